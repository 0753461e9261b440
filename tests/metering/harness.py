"""Run metering in-process (``metering.app.run``), publish events as the api and the
workers do, and ask it usage queries over NATS."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from contracts import subjects
from contracts.codec import encode
from contracts.events import ChatEvent, RequestAccepted, RequestCancelled, RequestCompleted
from contracts.rpc import Reply
from contracts.usage import ListUsageRecords, UsageQuery, UsageRecordPage, UsageSummary
from metering.app import run
from metering.settings import MeteringSettings

EVERYTHING = (0.0, 4_102_444_800.0)
"""[1970, 2100): a range that holds every test event."""


def settings_for(nats_url: str, database_url: str, **overrides: Any) -> MeteringSettings:
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "database_url": database_url,
        "events_poll_s": 0.2,
        "db_retry_max_s": 0.5,
        "db_timeout_s": 2.0,
        "drain_timeout_s": 3.0,
        "nats_connect_timeout_s": 10.0,
    }
    return MeteringSettings(**(values | overrides))


async def summary_of(
    nc: NatsClient,
    user_id: str | None = None,
    model: str | None = None,
    wait_s: float = 5.0,
    by_user: bool = False,
) -> UsageSummary:
    query = UsageQuery(
        start=EVERYTHING[0], end=EVERYTHING[1], user_id=user_id, model=model, by_user=by_user
    )
    msg = await nc.request(subjects.USAGE_SUMMARY, encode(query), timeout=wait_s)
    reply = msgspec.json.decode(msg.data, type=Reply[UsageSummary])
    assert reply.ok is not None, reply.error
    return reply.ok


async def records_of(
    nc: NatsClient, user_id: str | None = None, limit: int = 1000
) -> UsageRecordPage:
    request = ListUsageRecords(start=EVERYTHING[0], end=EVERYTHING[1], user_id=user_id, limit=limit)
    msg = await nc.request(subjects.USAGE_RECORDS, encode(request), timeout=5)
    reply = msgspec.json.decode(msg.data, type=Reply[UsageRecordPage])
    assert reply.ok is not None, reply.error
    return reply.ok


async def wait_ready(nc: NatsClient, wait_s: float = 30.0) -> None:
    """Until metering answers (it subscribes once the database is ready)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await summary_of(nc, user_id="nobody", wait_s=0.5)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(
    settings: MeteringSettings, nc: NatsClient | None = None, ready: bool = True
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
    """Until the metering consumer has nothing pending or unacknowledged."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.METERING_EVENTS_CONSUMER)
        except Exception:
            info = None
        if info is not None and info.num_pending == 0 and info.num_ack_pending == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"metering consumer not idle: {info}")
        await asyncio.sleep(0.05)
