"""`make run`'s launcher killed outright (SIGKILL: no chance to stop anything): its
nats-server and every service end with it instead of running on, orphaned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from local_stack.ports import free_port

pytestmark = pytest.mark.nats


def children_of(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``: their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid:
            found[int(entry.name)] = command
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_launcher_takes_its_nats_server_and_services_along(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_PORT": str(port),
        "STACK_LOG_DIR": str(tmp_path / "logs"),
        "STACK_METRICS_PORT_BASE": "0",
        "WORKER_ENGINE": "scripted",
    }
    env.pop("NATS_URL", None)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "local_stack"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    children: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120
        while True:
            assert launcher.poll() is None, "the launcher exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the stack did not get ready"
            time.sleep(0.5)
        children = children_of(launcher.pid)
        assert any("nats-server" in command for command in children.values()), children
        assert len(children) == 6, children  # nats-server and five services

        launcher.kill()
        launcher.wait()
        deadline = time.monotonic() + 60
        while (left := [pid for pid in children if alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == [], {pid: children[pid] for pid in left}
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
