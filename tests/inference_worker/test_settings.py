from __future__ import annotations

from pathlib import Path

import pytest

from inference_worker.settings import SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings({"MODEL_CACHE_DIR": "/models"})
    assert s.nats_url == "nats://127.0.0.1:4222"
    assert s.model == "gemma3-270m"
    assert s.engine == "vllm"
    assert s.model_path == Path("/models/gemma3-270m-hf")
    assert s.dtype == "bfloat16"
    assert s.max_model_len == 4096
    assert s.gpu_memory_utilization == 0.3
    assert s.max_num_seqs == s.capacity == 16
    assert s.enforce_eager is True
    assert s.tensor_parallel_size == 1
    assert s.chat_template == "gemma"
    assert s.heartbeat_s == 1.0
    assert s.drain_timeout_s == 30.0
    assert s.default_max_tokens == 256
    assert s.worker_id  # hostname-pid


def test_overrides() -> None:
    s = load_settings(
        {
            "NATS_URL": "nats://nats:4222",
            "WORKER_ID": "w1",
            "WORKER_MODEL": "m",
            "WORKER_ENGINE": "scripted",
            "WORKER_MODEL_PATH": "/x/y",
            "WORKER_DTYPE": "float16",
            "WORKER_MAX_MODEL_LEN": "2048",
            "WORKER_GPU_MEMORY_UTILIZATION": "0.9",
            "WORKER_MAX_NUM_SEQS": "4",
            "WORKER_ENFORCE_EAGER": "false",
            "WORKER_TENSOR_PARALLEL_SIZE": "2",
            "WORKER_HEARTBEAT_S": "0.25",
            "WORKER_DRAIN_TIMEOUT_S": "0",
            "WORKER_DEFAULT_MAX_TOKENS": "32",
            "WORKER_SCRIPTED_TOKENS_PER_S": "1000",
            "WORKER_SCRIPTED_FAIL_START": "yes",
        }
    )
    assert (s.nats_url, s.worker_id, s.model, s.engine) == (
        "nats://nats:4222",
        "w1",
        "m",
        "scripted",
    )
    assert s.model_path == Path("/x/y")
    assert (s.dtype, s.max_model_len, s.gpu_memory_utilization) == ("float16", 2048, 0.9)
    assert (s.capacity, s.enforce_eager, s.tensor_parallel_size) == (4, False, 2)
    assert (s.heartbeat_s, s.drain_timeout_s, s.default_max_tokens) == (0.25, 0.0, 32)
    assert s.scripted_tokens_per_s == 1000.0
    assert s.scripted_fail_start is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_ENGINE", "tgi"),
        ("WORKER_MAX_NUM_SEQS", "0"),
        ("WORKER_MAX_NUM_SEQS", "many"),
        ("WORKER_GPU_MEMORY_UTILIZATION", "1.5"),
        ("WORKER_GPU_MEMORY_UTILIZATION", "0"),
        ("WORKER_ENFORCE_EAGER", "maybe"),
        ("WORKER_HEARTBEAT_S", "-1"),
        ("WORKER_DTYPE", "int4"),
        ("WORKER_CHAT_TEMPLATE", "llama9"),
        ("NATS_URL", "http://localhost:4222"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})
