"""Worker liveness as the api sees it: every worker heartbeat (core NATS) goes into the
``WorkerRegistry``, and a sweeper task marks the workers gone quiet as lost (their relays
are told) every ``sweep_interval_s``."""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from chat_api.workers import WorkerRegistry
from contracts import codec, subjects

log = logging.getLogger("chat_api.bus.worker_watch")


class WorkerWatch:
    def __init__(self, nc: NatsClient, registry: WorkerRegistry, sweep_interval_s: float) -> None:
        self.nc = nc
        self.registry = registry
        self._sweep_interval_s = sweep_interval_s
        self._heartbeats: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._heartbeats = await self.nc.subscribe(
            subjects.HEARTBEAT_SUBJECTS, cb=self._on_heartbeat
        )
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="worker-sweeper")

    async def close(self) -> None:
        """Stop sweeping (the heartbeat subscription ends with the connection's drain)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            status = codec.decode_worker_status(msg.data)
        except codec.DecodeErrors as exc:
            log.warning("bad heartbeat on %s: %s", msg.subject, exc)
            return
        self.registry.observe(status)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval_s)
            try:
                self.registry.sweep()
            except Exception:
                log.exception("worker sweep failed")
