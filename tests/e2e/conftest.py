"""The real platform, started as `make run` starts it: nats-server, one inference worker
with the real vLLM CPU engine and the small model, and the api on a free port.

One stack serves the whole session (every e2e module, the browser tests too): it takes
about a minute to start. A test that kills the worker (test_chat_e2e's
`test_worker_killed_...`) is moved to the end of the session, and each module checks the
stack first and restarts a dead worker, so a module never inherits a broken stack."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.launcher import Stack
from local_stack.ports import free_port
from local_stack.settings import StackSettings

# The first admin, created by persistence at start (the browser logs in with it).
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-e2e-password"
# Two generations at once: a third chat waits in the queue (the browser's queue test)
# without making the CPU engine juggle many sequences.
WORKER_MAX_NUM_SEQS = "2"
# Tests that break the stack on purpose: run after every other test of the session.
DESTRUCTIVE = ("test_worker_killed_",)


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.name.startswith(DESTRUCTIVE)]
    if last:
        items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def session_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    settings = StackSettings(
        data_dir=data_dir,
        nats_url=None,
        gateway_port=free_port(),
        log_dir=data_dir / "logs",
        ready_timeout_s=900.0,
        extra_env={
            "WORKER_DRAIN_TIMEOUT_S": "10",
            "WORKER_MAX_NUM_SEQS": WORKER_MAX_NUM_SEQS,
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            # Each browser spec signs a new user in, all from 127.0.0.1.
            "AUTH_ATTEMPTS_PER_ADDRESS": "0",
        },
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
    # Every service did all of the session's work as its own bus user, within its rights.
    assert stack.nats is not None
    violations = stack.nats.violations()
    assert violations == [], "\n".join(violations[:20])


@pytest.fixture(scope="module")
def live_stack(session_stack: Stack) -> Stack:
    """The session's stack, with every worker running and ready when the module starts."""
    restarted = False
    for worker in session_stack.workers:
        if worker.exit_code() is not None:
            print(f"restarting {worker.name} (exited with {worker.exit_code()})", flush=True)
            worker.start()
            restarted = True
    if restarted or not (state := session_stack.readiness()) or not state.ready:
        session_stack.wait_ready(progress=lambda line: print(line, flush=True))
    return session_stack


@pytest.fixture(scope="session")
def admin_account() -> tuple[str, str]:
    """The first admin's email and password (persistence created it from the env)."""
    return ADMIN_EMAIL, ADMIN_PASSWORD


@pytest.fixture(scope="session")
def token(session_stack: Stack) -> str:
    return dev_token(session_stack.settings.data_dir)
