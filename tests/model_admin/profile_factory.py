"""A valid profile as a plain dict, for tests to break one field at a time."""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from contracts.admin import ProfileSpec

_BASE: dict[str, Any] = {
    "id": "test-8b",
    "display_name": "Test 8B",
    "hf_model": "org/test-8b",
    "aliases": ["t8"],
    "whitelisted": True,
    "engine": {
        "device": "cuda",
        "tensor_parallel_size": 1,
        "dtype": "bfloat16",
        "max_model_len": 8192,
        "gpu_memory_utilization": 0.9,
        "max_num_seqs": 8,
    },
    "size": {  # Llama 3.1 8B shapes
        "params": 8_030_261_248,
        "num_layers": 32,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_attention_heads": 32,
        "num_kv_heads": 8,
        "head_dim": 128,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
    },
    "sampling": {"temperature": 0.6, "top_p": 0.9, "max_tokens": 512},
}


def profile_dict(**changes: Any) -> dict[str, Any]:
    """The base profile with ``changes``; ``engine__dtype=...`` sets a nested field."""
    data = copy.deepcopy(_BASE)
    for key, value in changes.items():
        target = data
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return data


def make_profile(**changes: Any) -> ProfileSpec:
    return msgspec.convert(profile_dict(**changes), ProfileSpec)
