"""`python -m local_stack` (make run): the whole platform on this machine, Ctrl-C stops it."""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType

from local_stack.bus_users import USERS_FILE
from local_stack.launcher import Stack, StackFailed
from local_stack.settings import load_settings

RESTART_LIMIT = 5
RESTART_WINDOW_S = 300.0


class _Stop(Exception):
    pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _say(line: str) -> None:
    print(f"[stack] {line}", flush=True)


def main() -> int:
    settings = load_settings()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    stack = Stack(settings)
    try:
        _say(f"data directory {settings.data_dir}")
        stack.start()
        if stack.users is not None:
            _say(
                f"nats {stack.nats_url} (started here; locked: one user per service, "
                f"passwords in {settings.data_dir / 'nats' / USERS_FILE})"
            )
        else:
            _say(f"nats {stack.nats_url} (given)")
        _say("starting the inference worker: the vLLM engine takes about a minute to load")
        stack.wait_ready(_say)
        _say(f"ready: {settings.api_url}")
        _say(f"web app:       {settings.api_url}/  (register, or ADMIN_EMAIL / ADMIN_PASSWORD)")
        _say("get a token:   make token")
        _say(
            f'chat:          curl -N {settings.api_url}/api/chat -H "Authorization: Bearer '
            "$(make -s token | tail -1)\" -H 'Content-Type: application/json' "
            '-d \'{"messages":[{"role":"user","content":"Hello!"}]}\''
        )
        _say("Ctrl-C stops everything")
        _supervise(stack)
    except _Stop:
        _say("stopping: api, then workers (draining), then nats")
    except StackFailed as exc:
        _say(f"failed: {exc}")
        stack.stop()
        return 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stack.stop()
    _say("stopped")
    return 0


def _supervise(stack: Stack) -> None:
    """Restart a service that exits on its own (the plan's restart policy), with back-off,
    and give up when one keeps failing."""
    restarts: list[float] = []
    while True:
        time.sleep(1.0)
        if stack.nats is not None and stack.nats.process and stack.nats.process.poll() is not None:
            raise StackFailed("nats-server exited")
        for process in stack.processes():
            code = process.exit_code()
            if code is None:
                continue
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW_S]
            if len(restarts) >= RESTART_LIMIT:
                raise StackFailed(f"{process.name} keeps exiting (code {code})")
            delay = 2.0 ** len(restarts)
            _say(f"{process.name} exited with code {code}; restarting in {delay:.0f} s")
            time.sleep(delay)
            restarts.append(time.monotonic())
            process.start()


if __name__ == "__main__":
    sys.exit(main())
