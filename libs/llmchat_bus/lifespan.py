"""The steps of a service's lifespan every NATS service takes the same way: stop on
SIGTERM / SIGINT, connect to NATS (or exit with a logged reason), drain the connection at
the end.

Each service's ``run`` keeps the order of its own start-up and what it serves; the lines
it logs here go to the logger it hands in, so they keep naming the service.

This is the one connect-and-retry path: the service owns the nats-py connection made here.
Its request-reply server (``llmchat_bus.rpc``, a FastStream ``NatsBroker``) is attached to
that connection rather than opening its own, so the JetStream consumers, the outbox and
the broker share it, and ``drain`` here flushes all of them last.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Protocol

from nats.aio.client import Client as NatsClient

from contracts.bus import connect, redacted


class NatsSettings(Protocol):
    """The settings fields ``connect_or_exit`` reads."""

    @property
    def nats_url(self) -> str: ...
    @property
    def nats_connect_timeout_s(self) -> float: ...


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (the service then drains and exits)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def connect_or_exit(
    settings: NatsSettings, name: str, stop: asyncio.Event, log: logging.Logger
) -> NatsClient | int:
    """The connection to NATS, or the exit code when there is none: 1 if NATS stayed
    unreachable for ``nats_connect_timeout_s``, 0 if ``stop`` was set first (logged)."""
    try:
        nc = await connect(settings.nats_url, name, stop, settings.nats_connect_timeout_s)
    except Exception as exc:
        log.error(
            "NATS at %s not reachable within %.0fs: %r",
            redacted(settings.nats_url),
            settings.nats_connect_timeout_s,
            exc,
        )
        return 1
    if nc is None:
        log.info("stopped before NATS was reachable")
        return 0
    return nc


async def drain(nc: NatsClient, log: logging.Logger, timeout_s: float | None = None) -> None:
    """Drain the connection (within ``timeout_s`` if given); failing to is only logged."""
    try:
        if timeout_s is None:
            await nc.drain()
        else:
            await asyncio.wait_for(nc.drain(), timeout_s)
    except Exception as exc:
        log.debug("nats drain: %r", exc)


class Served(Protocol):
    """A part of a service that takes work between ``start`` and ``stop`` (a request-reply
    server, an event consumer, a watcher)."""

    async def start(self) -> None: ...
    async def stop(self, timeout_s: float) -> None: ...


async def serve_until_stopped(
    name: str,
    stop: asyncio.Event,
    parts: Sequence[Served],
    *,
    drain_timeout_s: float,
    log: logging.Logger,
) -> None:
    """Start ``parts`` in order, say the service is ready, wait for ``stop``, then stop them
    in reverse order (each within ``drain_timeout_s``): what started last took work from
    what started first, so it lets go first."""
    for part in parts:
        await part.start()
    log.info("%s ready", name)
    try:
        await stop.wait()
    finally:
        log.info("draining")
        for part in reversed(parts):
            await part.stop(drain_timeout_s)
