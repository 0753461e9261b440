"""The real platform, started as `make run` starts it: nats-server, one inference worker
with the real vLLM CPU engine and the small model, and the api on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.launcher import Stack
from stack.ports import free_port
from stack.settings import StackSettings


def dev_token(data_dir: Path) -> str:
    """What `make token` prints as its last line, for this stack's data directory."""
    result = subprocess.run(
        [sys.executable, "-m", "chat_api.auth.dev_token"],
        env={**os.environ, "DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    settings = StackSettings(
        data_dir=data_dir,
        nats_url=None,
        gateway_port=free_port(),
        log_dir=data_dir / "logs",
        ready_timeout_s=900.0,
        extra_env={"WORKER_DRAIN_TIMEOUT_S": "10"},
    )
    stack = Stack(settings)
    stack.start()
    try:
        stack.wait_ready(progress=lambda line: print(line, flush=True))
        yield stack
    finally:
        stack.stop()
        for process in stack.processes():
            print(f"--- {process.name} log tail ---\n{process.log_tail(40)}")


@pytest.fixture(scope="module")
def token(live_stack: Stack) -> str:
    return dev_token(live_stack.settings.data_dir)
