"""The memory estimate against published figures, and the compatibility verdicts."""

from __future__ import annotations

import pytest

from model_admin.memory import (
    GIB,
    Hardware,
    bytes_per_weight,
    check_compatibility,
    estimate_memory,
)
from model_admin.registry import load_profiles
from tests.model_admin.profile_factory import make_profile

REGISTRY = load_profiles()
RTX3090X2 = Hardware(device="cuda", count=2, memory_gib=24)
RTX3090 = Hardware(device="cuda", count=1, memory_gib=24)

# Published checkpoint sizes (sum of the safetensors files listed on the Hugging Face
# "Files and versions" page; GB = 1e9 bytes, shown to 2-3 significant digits there).
PUBLISHED_WEIGHTS_GB = [
    # meta-llama/Llama-3.1-8B-Instruct, bf16: 4.98 + 5.00 + 4.92 + 1.17 GB, listed at
    # https://huggingface.co/AIDSC/Llama-3.1-8B-Instruct/tree/85799738832cb7392067696db859156610a4774b
    ("llama-3.1-8b-instruct", 16.07),
    # Qwen/Qwen2.5-14B (same shapes as the R1 distill), bf16 = the plan's fp16 size:
    # 3.89 + 4 + 4 + 4 + 3.98 + 4 + 4 + 1.7 GB,
    # https://huggingface.co/Qwen/Qwen2.5-14B/tree/05567cc8ac47bb9b214483dcf71ed2e2de30a8a9
    ("deepseek-r1-distill-qwen-14b", 29.57),
    # Qwen/Qwen2.5-14B-Instruct-AWQ, 4-bit g128: 3.99 + 3.97 + 2.02 GB,
    # https://huggingface.co/Qwen/Qwen2.5-14B-Instruct-AWQ/tree/main
    ("qwen2.5-14b-instruct-awq", 9.98),
    # hugging-quants/Meta-Llama-3.1-8B-Instruct-GPTQ-INT4, 4-bit g128: 4.97 GB + 764 MB,
    # https://huggingface.co/hugging-quants/Meta-Llama-3.1-8B-Instruct-GPTQ-INT4/tree/a4e6a739f34e344d11e1faa3c2e47265764ab7cd
    ("llama-3.1-8b-instruct-gptq-int4", 5.734),
    # The Gemma 3 270M folder `make model` writes here: model.safetensors is
    # 536,223,056 bytes (measured on the build machine, see gemma3-270m.toml).
    ("gemma3-270m", 0.536223056),
]


@pytest.mark.parametrize(("profile_id", "published_gb"), PUBLISHED_WEIGHTS_GB)
def test_weights_estimate_within_ten_percent_of_published(
    profile_id: str, published_gb: float
) -> None:
    estimate_gb = estimate_memory(REGISTRY.get(profile_id)).weights_bytes / 1e9
    assert estimate_gb == pytest.approx(published_gb, rel=0.10)
    # In fact within 1 %: 16.06 vs 16.07, 29.54 vs 29.57, 9.98 vs 9.98, 5.73 vs 5.73.
    assert estimate_gb == pytest.approx(published_gb, rel=0.01)


def test_kv_cache_per_token_llama_31_8b() -> None:
    # 2 x 32 layers x 8 KV heads x 128 x 2 bytes = 128 KiB a token in fp16/bf16; the
    # published figure: Llama-3-8B (same attention shapes) at 32K context = 4.0 GiB,
    # https://flarestart.com/article/q4-kv-cache-fit-32k-context-into-8gb-vram-only-math-broke-20260408
    est = estimate_memory(REGISTRY.get("llama-3.1-8b-instruct"))
    assert est.kv_bytes_per_token == 128 * 1024
    assert est.kv_bytes_per_token * 32768 / GIB == pytest.approx(4.0, rel=0.10)


def test_kv_cache_per_token_other_models() -> None:
    per_token = {p.id: estimate_memory(p).kv_bytes_per_token for p in REGISTRY}
    assert per_token["deepseek-r1-distill-qwen-14b"] == 2 * 48 * 8 * 128 * 2  # 192 KiB
    assert per_token["qwen2.5-7b-instruct"] == 2 * 28 * 4 * 128 * 2  # 56 KiB
    assert per_token["phi-3.5-mini-instruct"] == 2 * 32 * 32 * 96 * 2  # 384 KiB, no GQA
    assert per_token["gemma3-270m"] == 2 * 18 * 1 * 256 * 2  # 18 KiB


def test_bytes_per_weight() -> None:
    assert bytes_per_weight(REGISTRY.get("llama-3.1-8b-instruct")) == 2.0
    # 4 bits + (fp16 scale + 4-bit zero) per 128 weights
    assert bytes_per_weight(REGISTRY.get("qwen2.5-14b-instruct-awq")) == pytest.approx(
        0.5 + 2.5 / 128
    )
    fp8 = make_profile(engine__quantization="fp8")
    assert bytes_per_weight(fp8) == 1.0
    per_channel = make_profile(
        engine__quantization="gptq",
        engine__dtype="float16",
        size__weight_bits=8,
        size__group_size=-1,
    )
    assert bytes_per_weight(per_channel) == 1.0


def test_fp8_keeps_embeddings_in_16_bit() -> None:
    p = make_profile(engine__quantization="fp8")
    emb = p.size.embedding_params
    assert estimate_memory(p).weights_bytes == (p.size.params - emb) + 2 * emb


def test_fp8_kv_cache_halves_it() -> None:
    p = make_profile(engine__kv_cache_dtype="fp8")
    assert estimate_memory(p).kv_bytes_per_token == 64 * 1024


def test_the_plan_preset_does_not_fit_two_3090s_at_055() -> None:
    result = check_compatibility(REGISTRY.get("deepseek-r1-distill-qwen-14b"), RTX3090X2)
    assert not result.fits
    assert result.reason == "needs 32.0 GiB, 2x 24 GiB at 0.55 gives 26.4 GiB"
    assert result.available_gib == 26.4
    b = result.breakdown
    assert b.weights_gib == pytest.approx(27.51, abs=0.01)  # > 26.4 on its own
    assert b.kv_cache_gib == 1.5  # 8192 tokens x 192 KiB
    assert b.overhead_gib == 3.0  # 2 x (1.0 + 0.5 CUDA graphs)
    assert b.kv_per_token_kib == 192
    assert b.full_length_sequences == 0


def test_the_same_model_fits_at_090() -> None:
    result = check_compatibility(REGISTRY.get("deepseek-r1-distill-qwen-14b-util90"), RTX3090X2)
    assert result.fits
    assert result.reason.startswith("fits: needs 32.0 GiB, 2x 24 GiB at 0.9 gives 43.2 GiB")
    assert "room for 8 of max_num_seqs 32 sequences at 8192 tokens" in result.reason


def test_quantised_14b_fits_one_3090() -> None:
    result = check_compatibility(REGISTRY.get("qwen2.5-14b-instruct-awq"), RTX3090)
    assert result.fits
    assert result.needed_gib < 16


def test_8b_bf16_fits_one_3090_but_not_a_16_gib_card() -> None:
    p = REGISTRY.get("llama-3.1-8b-instruct")
    assert check_compatibility(p, RTX3090).fits
    small = check_compatibility(p, Hardware(device="cuda", count=1, memory_gib=16))
    assert not small.fits
    assert small.reason == "needs 17.5 GiB, 1x 16 GiB at 0.9 gives 14.4 GiB"


def test_too_few_devices() -> None:
    result = check_compatibility(REGISTRY.get("llama-3.1-8b-instruct-128k"), RTX3090)
    assert not result.fits
    assert result.reason == "needs 2 cuda devices (tensor_parallel_size 2), the worker has 1"


def test_wrong_device_kind() -> None:
    cpu = Hardware(device="cpu", count=1, memory_gib=10.34)
    result = check_compatibility(REGISTRY.get("llama-3.1-8b-instruct"), cpu)
    assert not result.fits
    assert result.reason == "profile runs on cuda, the worker has cpu"
    back = check_compatibility(REGISTRY.get("gemma3-270m"), RTX3090)
    assert back.reason == "profile runs on cpu, the worker has cuda"


def test_cpu_profile_fits_this_machine() -> None:
    # The node of the build machine: "Available memory on node 0 (8.03/10.34 GiB)".
    node = Hardware(device="cpu", count=1, memory_gib=10.34)
    result = check_compatibility(REGISTRY.get("gemma3-270m"), node)
    assert result.fits
    assert result.reason.startswith("fits: needs 0.8 GiB, 1x 10.34 GiB at 0.3 gives 3.1 GiB")
    assert result.breakdown.full_length_sequences == 16


def test_extra_devices_are_not_counted() -> None:
    four = Hardware(device="cuda", count=4, memory_gib=24)
    result = check_compatibility(REGISTRY.get("deepseek-r1-distill-qwen-14b"), four)
    assert not result.fits  # TP 2 uses two of the four
    assert result.available_gib == 26.4


def test_kv_heads_are_replicated_past_their_count() -> None:
    p = make_profile(
        engine__tensor_parallel_size=16, size__num_attention_heads=64, size__num_kv_heads=4
    )
    est = estimate_memory(p)
    assert est.kv_bytes_per_token_per_device == 2 * 32 * 1 * 128 * 2
    assert est.kv_bytes_per_token_per_device * 16 > est.kv_bytes_per_token


def test_enforce_eager_drops_the_cuda_graph_allowance() -> None:
    eager = estimate_memory(make_profile(engine__enforce_eager=True))
    graphs = estimate_memory(make_profile())
    assert graphs.overhead_bytes_per_device - eager.overhead_bytes_per_device == GIB // 2


def test_every_shipped_profile_fits_the_box_it_is_tuned_for() -> None:
    node = Hardware(device="cpu", count=1, memory_gib=10.34)
    refused = []
    for p in REGISTRY:
        hw = node if p.engine.device == "cpu" else RTX3090X2
        if not check_compatibility(p, hw).fits:
            refused.append(p.id)
    assert refused == ["deepseek-r1-distill-qwen-14b"]  # the plan's preset, see its file


@pytest.mark.parametrize(("count", "memory"), [(0, 24.0), (1, 0.0), (1, float("nan"))])
def test_hardware_is_validated(count: int, memory: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        Hardware(device="cuda", count=count, memory_gib=memory)
