from __future__ import annotations

from typing import Any

import msgspec
import pytest

from contracts.admin import FALLBACK_TEMPLATE_NAMES
from inference_worker.prompt import FALLBACK_TEMPLATES
from model_admin.profiles import model_dtype
from model_admin.registry import ProfileError, decode_profile
from tests.model_admin.profile_factory import make_profile, profile_dict


def test_valid_profile_and_defaults() -> None:
    p = make_profile()
    assert p.names == ("test-8b", "t8")
    assert model_dtype(p) == "bfloat16"
    assert p.engine.quantization == "none"
    assert p.engine.enforce_eager is False
    assert p.chat_template is None


def test_fallback_template_names_match_the_worker() -> None:
    assert set(FALLBACK_TEMPLATES) == FALLBACK_TEMPLATE_NAMES


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"engine__dtype": "fp17"}, "Invalid enum value 'fp17' - at `$.engine.dtype`"),
    ({"engine__device": "tpu"}, "Invalid enum value 'tpu' - at `$.engine.device`"),
    ({"engine__quantization": "int3"}, "Invalid enum value 'int3'"),
    ({"engine__tensor_parallel_size": 3}, "tensor_parallel_size 3 is not a power of two"),
    ({"engine__tensor_parallel_size": 0}, "tensor_parallel_size 0 is not a power of two"),
    ({"engine__max_model_len": 0}, "max_model_len must be >= 1, got 0"),
    ({"engine__gpu_memory_utilization": 0.0}, "gpu_memory_utilization 0.0 is outside (0, 1]"),
    ({"engine__gpu_memory_utilization": 1.2}, "gpu_memory_utilization 1.2 is outside (0, 1]"),
    ({"engine__swap_space_gb": -1}, "swap_space_gb must be >= 0, got -1"),
    ({"engine__max_num_seqs": 0}, "max_num_seqs must be >= 1, got 0"),
    (
        {"engine__quantization": "awq", "engine__dtype": "bfloat16"},
        "quantization awq runs in float16; dtype bfloat16 is not supported",
    ),
    (
        {
            "engine__quantization": "gptq",
            "engine__dtype": "auto",
            "size__weight_bits": 4,
            "size__group_size": 128,
        },
        "dtype auto would pick the checkpoint's bfloat16 (set dtype = float16)",
    ),
    (
        {"engine__quantization": "awq", "engine__dtype": "float16"},
        "quantization awq needs size.weight_bits and size.group_size",
    ),
    (
        {
            "engine__quantization": "awq",
            "engine__dtype": "float16",
            "size__weight_bits": 8,
            "size__group_size": 128,
        },
        "quantization awq stores 4-bit weights, size.weight_bits is 8",
    ),
    (
        {
            "engine__quantization": "gptq",
            "engine__dtype": "float16",
            "size__weight_bits": 5,
            "size__group_size": 128,
        },
        "quantization gptq supports 2, 3, 4 or 8-bit weights, size.weight_bits is 5",
    ),
    (
        {"size__weight_bits": 4, "size__group_size": 128},
        "describe an AWQ or GPTQ checkpoint, but quantization is none",
    ),
    ({"engine__tensor_parallel_size": 64}, "num_attention_heads 32 is not divisible by "),
    (
        {"engine__tensor_parallel_size": 4, "size__num_kv_heads": 6},
        "num_kv_heads 6 and tensor_parallel_size 4: one must divide the other",
    ),
    (
        {"engine__max_model_len": 200_000},
        "max_model_len 200000 exceeds the model's max_position_embeddings 131072",
    ),
    ({"sampling__max_tokens": 9000}, "sampling.max_tokens 9000 exceeds max_model_len 8192"),
    ({"sampling__temperature": 2.5}, "temperature 2.5 is outside [0, 2]"),
    ({"sampling__top_p": 0.0}, "top_p 0.0 is outside (0, 1]"),
    ({"sampling__max_tokens": 0}, "max_tokens must be >= 1, got 0"),
    ({"id": "Has Spaces"}, "id 'Has Spaces' must be 1-64 characters"),
    ({"id": ""}, "id '' must be 1-64 characters"),
    ({"aliases": ["test-8b"]}, "alias 'test-8b' repeats the profile id"),
    ({"aliases": ["a", "a"]}, "alias 'a' is listed twice"),
    ({"aliases": ["bad alias"]}, "alias 'bad alias' must be 1-128 characters"),
    ({"display_name": " "}, "display_name is empty"),
    ({"hf_model": ""}, "hf_model is empty"),
    ({"chat_template": "llama9"}, "chat_template 'llama9' is not built in (built-in: gemma)"),
    ({"size__num_layers": 0}, "num_layers must be >= 1, got 0"),
    ({"size__num_kv_heads": 64}, "num_kv_heads 64 exceeds num_attention_heads 32"),
    ({"size__params": 1_000_000}, "params 1000000 is not more than the embeddings alone"),
    ({"size__group_size": 0}, "group_size must be -1 (per channel) or >= 1, got 0"),
    ({"engine__tensor_paralel_size": 2}, "Object contains unknown field `tensor_paralel_size`"),
    ({"size__params": "many"}, "Expected `int`, got `str` - at `$.size.params`"),
]


@pytest.mark.parametrize(("changes", "reason"), INVALID, ids=[r for _, r in INVALID])
def test_invalid_profile_is_refused_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    raw = msgspec.json.encode(profile_dict(**changes))
    with pytest.raises(ProfileError) as info:
        decode_profile(raw, fmt="json", source="bad.json")
    assert str(info.value).startswith("bad.json: ")
    assert reason in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    raw = msgspec.json.encode(profile_dict(engine__tensor_parallel_size=3, engine__max_model_len=0))
    with pytest.raises(ProfileError) as info:
        decode_profile(raw, fmt="json", source="x.json")
    assert "tensor_parallel_size 3" in str(info.value)
    assert "max_model_len must be >= 1" in str(info.value)


def test_direct_construction_validates_too() -> None:
    good = make_profile()
    with pytest.raises(ValueError, match=r"gpu_memory_utilization 1\.5 is outside"):
        msgspec.structs.replace(
            good, engine=msgspec.structs.replace(good.engine, gpu_memory_utilization=1.5)
        )


def test_structs_are_frozen() -> None:
    p = make_profile()
    with pytest.raises(AttributeError):
        p.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("dtype", "checkpoint", "quant", "expected"),
    [
        ("auto", "bfloat16", "none", "bfloat16"),
        ("auto", "float16", "none", "float16"),
        ("auto", "float32", "none", "bfloat16"),
        ("half", "bfloat16", "none", "float16"),
        ("float", "bfloat16", "none", "float32"),
        ("auto", "float16", "awq", "float16"),
    ],
)
def test_model_dtype_resolves_auto(dtype: str, checkpoint: str, quant: str, expected: str) -> None:
    extra: dict[str, Any] = {}
    if quant == "awq":
        extra = {"size__weight_bits": 4, "size__group_size": 128}
    p = make_profile(
        engine__dtype=dtype, size__checkpoint_dtype=checkpoint, engine__quantization=quant, **extra
    )
    assert model_dtype(p) == expected


def test_json_round_trip() -> None:
    p = make_profile()
    assert decode_profile(msgspec.json.encode(p), fmt="json", source="p.json") == p


def test_toml_profile_decodes() -> None:
    text = """
id = "tiny"
display_name = "Tiny"
hf_model = "org/tiny"

[engine]
max_model_len = 2048

[size]
params = 2_000_000
num_layers = 2
hidden_size = 64
intermediate_size = 256
num_attention_heads = 4
num_kv_heads = 4
head_dim = 16
vocab_size = 1000
max_position_embeddings = 2048
"""
    p = decode_profile(text, fmt="toml", source="tiny.toml")
    assert p.whitelisted is False  # opt-in
    assert p.engine.device == "cuda"
    assert p.sampling.max_tokens == 512
