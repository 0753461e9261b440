"""A child process of the embedded stack: started, watched, stopped politely."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1


def ends_with_the_launcher() -> Callable[[], None] | None:
    """A ``preexec_fn`` for a child of the launcher: the kernel sends it SIGTERM when the
    launcher dies, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``), so no nats-server or
    service outlives a launcher that could not stop them in order. None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    launcher = os.getpid()

    def in_the_child() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != launcher:  # it died before the line above
            os._exit(1)

    return in_the_child


class ManagedProcess:
    """One service process (``python -m <module>``) with its own environment and log.

    ``log_path`` None means the child shares the launcher's terminal.
    """

    def __init__(
        self, name: str, module: str, env: dict[str, str], log_path: Path | None = None
    ) -> None:
        self.name = name
        self.module = module
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self._close_log()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            # Own process group: Ctrl-C in the terminal reaches only the launcher, which
            # then stops the children in order (api first, workers drain, nats last).
            start_new_session=True,
            preexec_fn=ends_with_the_launcher(),
        )

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float) -> int | None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                # The whole group: a worker's vLLM engine runs in a child process.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._close_log()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would: no drain, no goodbye heartbeat."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
