"""Joining the bus: how every service connects to NATS.

nats-py retries an unreachable server inside ``connect`` as often as
``max_reconnect_attempts`` allows (-1: for ever, and then ``connect`` cannot be stopped),
so each attempt here is short, and reconnecting for ever is switched on only once
connected. Services start in any order: the one that comes up before NATS waits here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NatsClient

from contracts.permissions import inbox_prefix

log = logging.getLogger("contracts.bus")


def bus_identity(url: str) -> str | None:
    """The NATS user a service connects as (``nats://user:password@host:port``), None on
    a bus without users. With a user, replies come under that user's ``inbox_prefix``,
    the only inbox its permissions let it read."""
    return urlsplit(url.split(",", 1)[0].strip()).username or None


def bus_inbox(url: str) -> str:
    """``nats.connect``'s ``inbox_prefix`` for ``url``: its user's own inbox (nats-py's
    default without a user)."""
    identity = bus_identity(url)
    return "_INBOX" if identity is None else inbox_prefix(identity)


def redacted(url: str) -> str:
    """``url`` fit for a log line: any password replaced by ``***``."""
    parts = []
    for one in url.split(","):
        split = urlsplit(one.strip())
        if split.password is not None:
            host = split.netloc.rsplit("@", 1)[1]
            one = split._replace(netloc=f"{split.username}:***@{host}").geturl()
        parts.append(one)
    return ",".join(parts)


DRAIN_TIMEOUT_S = 5.0
"""Bound on ``nc.drain()`` at shutdown. A service drains its own work before it drains
the connection, so this only flushes; a subscription whose queue nobody empties would
otherwise hold a stopping process for nats-py's default 30 s (reported as
``DrainTimeoutError`` through the error callback)."""


async def connect(url: str, name: str, stop: asyncio.Event, timeout_s: float) -> NatsClient | None:
    """Connect to ``url``, retrying for up to ``timeout_s``; None if ``stop`` is set first.

    Raises the last connection error once ``timeout_s`` has passed.
    """
    deadline = time.monotonic() + timeout_s
    connected = False

    async def on_error(exc: Exception) -> None:
        if connected:
            log.warning("%s: nats: %r", name, exc)

    async def on_disconnected() -> None:
        if connected and not stop.is_set():
            log.warning("%s: disconnected from NATS; reconnecting", name)

    async def on_reconnected() -> None:
        log.info("%s: reconnected to NATS", name)

    attempt = 0
    while not stop.is_set():
        attempt += 1
        try:
            nc = await nats.connect(
                url,
                name=name,
                connect_timeout=2,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.25,
                drain_timeout=DRAIN_TIMEOUT_S,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                inbox_prefix=bus_inbox(url),
            )
        except Exception as exc:
            if time.monotonic() >= deadline:
                raise
            if attempt == 1 or attempt % 10 == 0:
                log.warning(
                    "%s: NATS at %s not reachable yet (%r); retrying", name, redacted(url), exc
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            continue
        connected = True
        nc.options["max_reconnect_attempts"] = -1
        nc.options["reconnect_time_wait"] = 0.5
        return nc
    return None
