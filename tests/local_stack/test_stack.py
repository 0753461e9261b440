"""The embedded launcher (what `make run` uses): every service starts, a chat goes
through, and a stop drains every process to exit status 0. Stand-in engine only."""

from __future__ import annotations

import stat

import httpx
import pytest

from chat_api.auth.dev_token import dev_token
from chat_api.settings import ApiSettings
from local_stack.launcher import Stack
from local_stack.ports import free_port
from local_stack.settings import StackSettings

pytestmark = pytest.mark.nats


def test_stack_starts_serves_a_chat_and_stops_cleanly(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("stack")
    settings = StackSettings(
        data_dir=data_dir,
        nats_url=None,
        gateway_port=free_port(),
        log_dir=data_dir / "logs",
        ready_timeout_s=120,
        extra_env={"WORKER_ENGINE": "scripted"},
    )
    stack = Stack(settings)
    stack.start()
    try:
        stack.wait_ready()
        token = dev_token(ApiSettings.from_env({"DATA_DIR": str(data_dir)}))
        response = httpx.post(
            f"{settings.api_url}/api/chat",
            json={"messages": [{"role": "user", "content": "hi [[tokens=3]]"}]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200
        assert "event: done" in response.text
        names = sorted(process.name for process in stack.processes())
        assert names == ["api", "metering", "model-admin", "persistence", "worker-1"]
    finally:
        stack.stop()
    # Every service connected as its own bus user and needed nothing its user may not do.
    assert stack.nats is not None
    assert stack.nats.violations() == []
    assert "@" in stack.bus_url("api")
    # What the data directory holds is its owner's alone.
    private = {
        name: stat.S_IMODE((data_dir / name).stat().st_mode)
        for name in (".", "llmchat.db", "metering.db", "jwt_secret", "nats", "nats/users.json")
    }
    assert private == {
        ".": 0o700,
        "llmchat.db": 0o600,
        "metering.db": 0o600,
        "jwt_secret": 0o600,
        "nats": 0o700,
        "nats/users.json": 0o600,
    }
    codes = {process.name: process.exit_code() for process in stack.processes()}
    assert codes == {
        "api": 0,
        "metering": 0,
        "model-admin": 0,
        "persistence": 0,
        "worker-1": 0,
    }, {
        name: stack_log for name, stack_log in ((p.name, p.log_tail(15)) for p in stack.processes())
    }
