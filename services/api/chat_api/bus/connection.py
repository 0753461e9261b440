"""The api's NATS connection: connect (retrying with backoff until a deadline, then
reconnecting forever), the JetStream context with the streams ensured, and the hooks run
each time the connection comes back (core messages sent meanwhile are lost)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from chat_api.bus import GatewayUnavailable
from contracts.bus import DRAIN_TIMEOUT_S, bus_identity, bus_inbox, redacted
from contracts.streams import ensure_streams

log = logging.getLogger("chat_api.bus.connection")


class BusConnection:
    def __init__(self, nc: NatsClient, js: JetStreamContext) -> None:
        self.nc = nc
        self.js = js
        self.on_reconnect: list[Callable[[], None]] = []
        """Called in order after the connection comes back; a failing hook is logged."""

    @classmethod
    async def open(cls, url: str, timeout_s: float) -> BusConnection:
        """Connect (retrying until ``timeout_s``) and ensure the streams."""
        connection: BusConnection | None = None

        async def reconnected() -> None:
            if connection is not None:
                connection.reconnected()

        nc = await _connect_retrying(url, timeout_s, reconnected)
        js = nc.jetstream()
        await ensure_streams(js, identity=bus_identity(url))
        connection = cls(nc, js)
        return connection

    def reconnected(self) -> None:
        for hook in list(self.on_reconnect):
            try:
                hook()
            except Exception:
                log.exception("reconnect hook failed")

    async def drain(self) -> None:
        if not self.nc.is_closed:
            await self.nc.drain()


async def _connect_retrying(
    url: str, timeout_s: float, reconnected: Callable[[], Awaitable[None]]
) -> NatsClient:
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        try:
            return await nats.connect(
                url,
                name="chat-api",
                connect_timeout=2,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                reconnected_cb=reconnected,
                drain_timeout=DRAIN_TIMEOUT_S,
                inbox_prefix=bus_inbox(url),
            )
        except Exception as exc:
            if time.monotonic() + delay > deadline:
                raise GatewayUnavailable(
                    f"cannot connect to NATS at {redacted(url)}: {exc}"
                ) from exc
            log.warning(
                "NATS at %s not reachable (%s); retrying in %.1f s", redacted(url), exc, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
