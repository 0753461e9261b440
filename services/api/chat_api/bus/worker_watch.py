"""Worker liveness as the api sees it: every worker heartbeat (core NATS) goes into the
``WorkerRegistry`` (a subscriber on the api's FastStream broker), and a sweeper task marks
the workers gone quiet as lost (their relays are told) every ``sweep_interval_s``."""

from __future__ import annotations

import asyncio
import logging

from chat_api.workers import WorkerRegistry
from contracts import codec, subjects
from contracts.workers import WorkerStatus
from llmchat_bus.broker import ServiceBroker, Subscription

log = logging.getLogger("chat_api.bus.worker_watch")


class WorkerWatch:
    def __init__(
        self, broker: ServiceBroker, registry: WorkerRegistry, sweep_interval_s: float
    ) -> None:
        self.registry = registry
        self._sweep_interval_s = sweep_interval_s
        self._heartbeats = Subscription(
            broker,
            subjects.HEARTBEAT_SUBJECTS,
            payload=WorkerStatus,
            decode=codec.decode_worker_status,
            handle=self._on_heartbeat,
            malformed="bad heartbeat on %s: %s",
            logger=log,
            description="Every api instance hears every worker (its WorkerRegistry).",
        )
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._heartbeats.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="worker-sweeper")

    async def close(self) -> None:
        """Stop sweeping (the heartbeat subscription ends with the connection's drain)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)

    async def _on_heartbeat(self, status: WorkerStatus) -> None:
        self.registry.observe(status)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval_s)
            try:
                self.registry.sweep()
            except Exception:
                log.exception("worker sweep failed")
