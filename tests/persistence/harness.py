"""Run persistence in-process (``persistence.app.run``) and talk to it over NATS."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import msgspec
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from contracts import subjects
from contracts.codec import encode
from contracts.events import ChatEvent, RequestAccepted, RequestCancelled, RequestCompleted
from contracts.rpc import Reply
from persistence.app import run
from persistence.settings import PersistenceSettings

T = TypeVar("T")


def settings_for(nats_url: str, database_url: str, **overrides: Any) -> PersistenceSettings:
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "database_url": database_url,
        "events_poll_s": 0.2,
        "db_retry_max_s": 0.5,
        "db_timeout_s": 2.0,
        "drain_timeout_s": 3.0,
        "nats_connect_timeout_s": 10.0,
        "dev_admin": True,  # as `make run` has it: tests sign in as dev-admin
    }
    return PersistenceSettings(**(values | overrides))


async def call(
    nc: NatsClient, subject: str, request: msgspec.Struct | bytes, ok: type[T], wait_s: float = 5
) -> Reply[T]:
    data = request if isinstance(request, bytes) else encode(request)
    msg = await nc.request(subject, data, timeout=wait_s)
    return msgspec.json.decode(msg.data, type=Reply[ok])  # type: ignore[valid-type]


async def wait_ready(nc: NatsClient, wait_s: float = 30.0) -> None:
    """Until persistence answers (it subscribes once the database is ready)."""
    from contracts.accounts import GetUser, UserView

    deadline = time.monotonic() + wait_s
    while True:
        try:
            await call(nc, subjects.ACCOUNT_GET, GetUser(user_id="dev-admin"), UserView, 0.5)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(
    settings: PersistenceSettings, nc: NatsClient | None = None, ready: bool = True
) -> AsyncIterator[asyncio.Task[int]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        if ready and nc is not None:
            await wait_ready(nc)
        yield task
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


def event_subject(event: ChatEvent) -> str:
    if isinstance(event, RequestAccepted):
        return subjects.EVENT_ACCEPTED
    if isinstance(event, RequestCompleted):
        return subjects.EVENT_COMPLETED
    if isinstance(event, RequestCancelled):
        return subjects.EVENT_CANCELLED
    return subjects.EVENT_FAILED


async def publish(js: JetStreamContext, event: ChatEvent, dedup: bool = True) -> None:
    """As the api / worker publish it (``dedup``: with ``Nats-Msg-Id``); without it the
    stream really holds a duplicate, as a redelivery would present it."""
    kind = event_subject(event).rsplit(".", 1)[-1]
    headers = {subjects.MSG_ID_HEADER: subjects.event_msg_id(event.request_id, kind)}
    await js.publish(event_subject(event), encode(event), headers=headers if dedup else None)


async def wait_consumer_idle(js: JetStreamContext, wait_s: float = 30.0) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            info = await js.consumer_info(
                subjects.EVENTS_STREAM, subjects.PERSISTENCE_EVENTS_CONSUMER
            )
        except Exception:
            info = None
        if info is not None and info.num_pending == 0 and info.num_ack_pending == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"events consumer not idle: {info}")
        await asyncio.sleep(0.05)
