"""Start, watch and stop the whole platform on one machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from contracts.permissions import API, METERING, MODEL_ADMIN, PERSISTENCE, WORKER
from local_stack.bus_users import BusUsers
from local_stack.nats_server import NatsServer
from local_stack.processes import ManagedProcess
from local_stack.settings import StackSettings

Progress = Callable[[str], None]


class StackFailed(RuntimeError):
    """A process of the stack exited or never became ready."""


@dataclass
class Readiness:
    ready: bool
    workers: list[dict[str, Any]]


class Stack:
    """nats-server (unless ``nats_url`` is set), persistence, metering, model-admin, N
    inference workers and one api."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.nats: NatsServer | None = None
        self.nats_url = settings.nats_url or ""
        """The server's address (no user): connect with ``bus_url``."""
        self.users: BusUsers | None = None
        self.persistence: ManagedProcess | None = None
        self.metering: ManagedProcess | None = None
        self.model_admin: ManagedProcess | None = None
        self.workers: list[ManagedProcess] = []
        self.api: ManagedProcess | None = None

    # --- start ---------------------------------------------------------------
    def start(self) -> None:
        data_dir = self.settings.data_dir
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        data_dir.chmod(0o700)  # databases, the JWT secret and the bus passwords
        if not self.settings.nats_url:
            nats_dir = data_dir / "nats"
            self.users = BusUsers.load_or_create(nats_dir)
            config = self.users.write_server_config(nats_dir)
            self.nats = NatsServer(nats_dir, config=config).start()
            self.nats_url = self.nats.url
        common = {
            "DATA_DIR": str(data_dir),
            "DEV_ADMIN": "true" if self.settings.dev_admin else "false",
            **self.settings.extra_env,
        }
        self.persistence = ManagedProcess(
            "persistence",
            "persistence",
            {**self.settings.metrics_env("persistence"), **common, **self._bus(PERSISTENCE)},
            self._log_path("persistence"),
        )
        self.persistence.start()
        self.metering = ManagedProcess(
            "metering",
            "metering",
            {**self.settings.metrics_env("metering"), **common, **self._bus(METERING)},
            self._log_path("metering"),
        )
        self.metering.start()
        self.model_admin = ManagedProcess(
            "model-admin",
            "model_admin",
            {**common, **self._bus(MODEL_ADMIN)},
            self._log_path("model-admin"),
        )
        self.model_admin.start()
        for index in range(1, self.settings.workers + 1):
            worker = ManagedProcess(
                f"worker-{index}",
                "inference_worker",
                {
                    **self.settings.metrics_env("worker", index),
                    **common,
                    **self._bus(WORKER),
                    "WORKER_ID": common.get("WORKER_ID", f"worker-{index}"),
                },
                self._log_path(f"worker-{index}"),
            )
            worker.start()
            self.workers.append(worker)
        self.api = ManagedProcess(
            "api",
            "chat_api",
            {
                **common,
                **self._bus(API),
                "GATEWAY_HOST": self.settings.gateway_host,
                "GATEWAY_PORT": str(self.settings.gateway_port),
            },
            self._log_path("api"),
        )
        self.api.start()

    def bus_url(self, identity: str) -> str:
        """The NATS URL to connect as ``identity`` (a user of ``contracts.permissions``)
        on the nats-server started here; a NATS_URL given to the launcher as it is."""
        if self.users is None:
            return self.nats_url
        return self.users.url(identity, self.nats_url)

    def _bus(self, identity: str) -> dict[str, str]:
        return {"NATS_URL": self.bus_url(identity)}

    def _log_path(self, name: str) -> Any:
        return self.settings.log_dir / f"{name}.log" if self.settings.log_dir else None

    def processes(self) -> list[ManagedProcess]:
        services = [self.persistence, self.metering, self.model_admin, *self.workers, self.api]
        return [process for process in services if process is not None]

    # --- readiness -----------------------------------------------------------
    def readiness(self) -> Readiness | None:
        """The api's /readyz, or None while the api does not answer yet."""
        try:
            response = httpx.get(f"{self.settings.api_url}/readyz", timeout=2.0)
        except httpx.HTTPError:
            return None
        body = response.json()
        return Readiness(ready=response.status_code == 200, workers=body.get("workers", []))

    def wait_ready(self, progress: Progress | None = None, poll_s: float = 0.5) -> None:
        started = time.monotonic()
        last_line = ""
        last_print = 0.0
        while True:
            self.raise_if_exited()
            state = self.readiness()
            if state is not None and state.ready:
                return
            elapsed = time.monotonic() - started
            if elapsed > self.settings.ready_timeout_s:
                raise StackFailed(f"not ready after {elapsed:.0f} s; see the logs")
            if progress is not None:
                line = self._describe(state)
                if line != last_line or time.monotonic() - last_print > 10:
                    progress(f"[{elapsed:5.0f} s] {line}")
                    last_line, last_print = line, time.monotonic()
            time.sleep(poll_s)

    @staticmethod
    def _describe(state: Readiness | None) -> str:
        if state is None:
            return "waiting for the api to listen"
        if not state.workers:
            return "api up; waiting for a worker heartbeat"
        return "; ".join(
            f"{w.get('id')}: {w.get('state')}" + (f" ({w['detail']})" if w.get("detail") else "")
            for w in state.workers
        )

    def raise_if_exited(self) -> None:
        for process in self.processes():
            code = process.exit_code()
            if code is not None:
                tail = process.log_tail()
                raise StackFailed(
                    f"{process.name} exited with code {code}"
                    + (f"; last lines:\n{tail}" if tail else "")
                )

    # --- stop ----------------------------------------------------------------
    def stop(self, drain_timeout_s: float = 45.0) -> None:
        """Api first (streams end with an error event), then workers drain, then
        metering and persistence (they record the last events), nats last."""
        if self.api is not None:
            self.api.stop(timeout_s=15.0)
        for worker in self.workers:
            worker.stop(timeout_s=drain_timeout_s)
        if self.model_admin is not None:
            self.model_admin.stop(timeout_s=15.0)
        if self.metering is not None:
            self.metering.stop(timeout_s=15.0)
        if self.persistence is not None:
            self.persistence.stop(timeout_s=15.0)
        if self.nats is not None:
            self.nats.stop()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
