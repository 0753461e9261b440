"""App lifespan: connect the gateway to NATS (unless one was injected), then drain.

On shutdown every open stream first gets a ``shutting_down`` error and its cancel is
published; then the NATS connection drains.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar

from chat_api.chat.service import ChatService
from chat_api.gateway import NatsGateway
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from chat_api.workers import WorkerRegistry

log = logging.getLogger("chat_api.lifespan")

STATE_KEY = "chat_service"


def nats_lifespan(
    settings: ApiSettings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        registry = WorkerRegistry(settings.worker_stale_after_s)
        gateway = await NatsGateway.connect(
            settings.nats_url,
            registry,
            settings.nats_connect_timeout_s,
            settings.worker_sweep_interval_s,
        )
        streams = StreamTable()
        app.state[STATE_KEY] = ChatService(settings, gateway, streams)
        log.info("api connected to NATS at %s; models %s", settings.nats_url, settings.models)
        try:
            yield
        finally:
            await shutdown_streams(streams, settings.shutdown_grace_s)
            await gateway.close()
            log.info("api stopped")

    return lifespan


async def shutdown_streams(streams: StreamTable, grace_s: float) -> None:
    streams.begin_shutdown()
    if len(streams) and not await streams.wait_empty(grace_s):
        log.warning("%d streams still open after %.1f s", len(streams), grace_s)
