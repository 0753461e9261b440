"""What model-admin derives from a profile (``contracts.admin.ProfileSpec``, the one schema,
which validates itself): the dtype the engine will run in.
"""

from __future__ import annotations

from contracts.admin import CheckpointDtype, ProfileSpec

_HALF = frozenset({"half", "float16"})
_FLOAT32 = frozenset({"float", "float32"})


def model_dtype(profile: ProfileSpec) -> CheckpointDtype:
    """The dtype the engine runs in (``auto`` resolved as vLLM does)."""
    dtype = profile.engine.dtype
    if dtype in _HALF:
        return "float16"
    if dtype == "bfloat16":
        return "bfloat16"
    if dtype in _FLOAT32:
        return "float32"
    # auto: the checkpoint's dtype, except float32 checkpoints, which vLLM runs in 16 bit
    checkpoint = profile.size.checkpoint_dtype
    if checkpoint == "float32":
        return "float16" if profile.engine.quantization in ("awq", "gptq") else "bfloat16"
    return checkpoint
