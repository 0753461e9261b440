"""The version-controlled profiles in services/model-admin/profiles/."""

from __future__ import annotations

import pytest

from contracts.admin import ProfileSpec
from inference_worker.settings import load_settings
from model_admin.registry import DEFAULT_PROFILE_DIR, load_profiles

REGISTRY = load_profiles()
PROFILES = list(REGISTRY)


def test_at_least_ten_profiles_with_unique_names() -> None:
    assert len(PROFILES) >= 10
    names = [n for p in PROFILES for n in p.names]
    assert len(names) == len(set(names))
    files = list(DEFAULT_PROFILE_DIR.glob("*.toml")) + list(DEFAULT_PROFILE_DIR.glob("*.json"))
    assert len(files) == len(PROFILES)


def test_every_file_cites_its_source() -> None:
    for path in DEFAULT_PROFILE_DIR.glob("*.toml"):
        head = path.read_text(encoding="utf-8").split("\nid = ")[0]
        assert "Architecture:" in head, path.name
        assert "huggingface.co" in head, path.name


def test_the_plan_preset_is_shipped_verbatim() -> None:
    p = REGISTRY.get("deepseek-r1-distill-qwen-14b")
    assert p.hf_model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B"
    assert REGISTRY.get("deepseek-ai/DeepSeek-R1-Distill-Qwen-14B") is p
    e = p.engine
    assert (e.device, e.tensor_parallel_size, e.dtype, e.max_model_len) == (
        "cuda",
        2,
        "float16",
        8192,
    )
    assert e.gpu_memory_utilization == 0.55
    assert e.swap_space_gb == 8


def test_required_kinds_are_present() -> None:
    assert any(
        p.size.params in range(7_500_000_000, 8_500_000_000) and p.engine.quantization == "none"
        for p in PROFILES
    )  # an 8B model
    assert {p.engine.quantization for p in PROFILES} >= {"none", "awq", "gptq"}
    assert any(p.engine.max_model_len >= 131072 for p in PROFILES)  # long context
    assert any(p.engine.device == "cpu" for p in PROFILES)


def test_cpu_profile_matches_what_the_worker_runs_today() -> None:
    p = REGISTRY.get("gemma3-270m")
    worker = load_settings({"MODEL_CACHE_DIR": "/models"})
    assert p.id == worker.model
    e = p.engine
    assert e.device == "cpu"
    assert e.dtype == worker.dtype == "bfloat16"
    assert e.max_model_len == worker.max_model_len == 4096
    assert e.gpu_memory_utilization == worker.gpu_memory_utilization == 0.3
    assert e.max_num_seqs == worker.max_num_seqs == 16
    assert e.enforce_eager is worker.enforce_eager is True
    assert e.tensor_parallel_size == worker.tensor_parallel_size == 1
    assert p.chat_template == worker.chat_template == "gemma"
    assert p.sampling.max_tokens == worker.default_max_tokens


def _dense_params(p: ProfileSpec, *, qkv_bias: bool, qk_norm: bool, norms_per_layer: int) -> int:
    """Parameters of a Llama-style decoder from its shapes (Llama, Qwen2, Mistral, Phi-3,
    Gemma 2 / 3): attention, gated MLP, RMSNorms, embeddings (+ untied lm_head)."""
    s = p.size
    q_out = s.num_attention_heads * s.head_dim
    kv_out = s.num_kv_heads * s.head_dim
    attn = s.hidden_size * (q_out + 2 * kv_out) + q_out * s.hidden_size
    if qkv_bias:
        attn += q_out + 2 * kv_out
    mlp = 3 * s.hidden_size * s.intermediate_size
    norms = norms_per_layer * s.hidden_size + (2 * s.head_dim if qk_norm else 0)
    return s.num_layers * (attn + mlp + norms) + s.embedding_params + s.hidden_size


_FAMILY = {  # qkv bias, q/k norm, norms per layer
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B": (True, False, 2),
    "Qwen/Qwen2.5-14B-Instruct-AWQ": (True, False, 2),
    "Qwen/Qwen2.5-7B-Instruct": (True, False, 2),
    "google/gemma-2-9b-it": (False, False, 4),
    "google/gemma-3-270m": (False, True, 4),
}


@pytest.mark.parametrize("profile", PROFILES, ids=[p.id for p in PROFILES])
def test_declared_params_match_the_architecture(profile: ProfileSpec) -> None:
    """Catches a mistyped layer count, head count or parameter count in a profile file."""
    qkv_bias, qk_norm, norms = _FAMILY.get(profile.hf_model, (False, False, 2))
    derived = _dense_params(profile, qkv_bias=qkv_bias, qk_norm=qk_norm, norms_per_layer=norms)
    assert derived == profile.size.params
