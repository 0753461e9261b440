"""The metering service in-process on a real nats-server and real databases: events in,
usage out, exactly once through redelivery, restarts, outages of metering and of its
database."""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from collections.abc import AsyncIterator

import msgspec
import nats
import pytest
from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.codec import encode
from contracts.errors import ErrorCode
from contracts.events import ChatEvent
from contracts.rpc import Reply
from contracts.streams import ensure_streams
from contracts.usage import UsageQuery, UsageSummary
from tests.metering import events_factory as ev
from tests.metering.conftest import PG_HOST, PG_PORT, create_pg_database, drop_pg_database
from tests.metering.conftest import pg_url as make_pg_url
from tests.metering.harness import (
    publish,
    records_of,
    running,
    settings_for,
    summary_of,
    wait_consumer_idle,
    wait_ready,
)
from tests.persistence.tcp_proxy import TcpProxy

pytestmark = pytest.mark.nats


@pytest.fixture
async def nc(metering_nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(metering_nats_url)
    await ensure_streams(client.jetstream())
    yield client
    await client.drain()


def traffic(user: str, count: int, seed: int = 0) -> tuple[list[ChatEvent], int, int]:
    """``count`` requests of ``user`` as the api and a worker report them (some cancelled,
    some failed, two models): the events, and the input / output tokens they report."""
    rng = random.Random(seed)
    events: list[ChatEvent] = []
    tokens_in = tokens_out = 0
    for i in range(count):
        request_id = f"{user}-{i}"
        model = "m" if i % 3 else "big"
        events.append(ev.accepted(request_id, user, model=model, api_key_id=f"k-{user}"))
        prompt, completion = rng.randint(1, 500), rng.randint(0, 300)
        kind = i % 5
        if kind == 3:
            events.append(
                ev.cancelled(request_id, user, model=model, prompt=prompt, completion=completion)
            )
        elif kind == 4:
            events.append(ev.failed(request_id, user, model=model))
            prompt = completion = 0
        else:
            events.append(
                ev.completed(request_id, user, model=model, prompt=prompt, completion=completion)
            )
        tokens_in += prompt
        tokens_out += completion
    return events, tokens_in, tokens_out


async def test_events_end_to_end(nc: NatsClient, metering_nats_url: str, db_url: str) -> None:
    js = nc.jetstream()
    user = f"u-{uuid.uuid4().hex[:8]}"
    events, tokens_in, tokens_out = traffic(user, 30)
    async with running(settings_for(metering_nats_url, db_url), nc):
        for event in events:
            await publish(js, event)
        await wait_consumer_idle(js)
        summary = await summary_of(nc, user_id=user)
        page = await records_of(nc, user_id=user)
    totals = summary.totals
    assert (totals.requests, totals.completed, totals.cancelled, totals.failed) == (30, 18, 6, 6)
    assert totals.in_progress == 0
    assert (totals.input_tokens, totals.output_tokens) == (tokens_in, tokens_out)
    assert {m.model: m.requests for m in summary.by_model} == {"m": 20, "big": 10}
    assert len(page.records) == 30
    assert {r.api_key_id for r in page.records} == {f"k-{user}"}


async def test_redelivery_and_restarts_never_count_twice(
    nc: NatsClient, metering_nats_url: str, db_url: str
) -> None:
    js = nc.jetstream()
    user = f"u-{uuid.uuid4().hex[:8]}"
    events, tokens_in, tokens_out = traffic(user, 20, seed=1)
    settings = settings_for(metering_nats_url, db_url)
    async with running(settings, nc):
        for event in events:
            await publish(js, event)
        await wait_consumer_idle(js)
        # The same events again, really in the stream twice (no Nats-Msg-Id), as a
        # publisher retrying after a lost ack would put them there.
        for event in events:
            await publish(js, event, dedup=False)
        await wait_consumer_idle(js)
    # Restart with the consumer's position lost: everything in the stream is replayed.
    await js.delete_consumer(subjects.EVENTS_STREAM, subjects.METERING_EVENTS_CONSUMER)
    async with running(settings, nc):
        await wait_consumer_idle(js, wait_s=60)
        summary = await summary_of(nc, user_id=user)
    assert summary.totals.requests == 20
    assert (summary.totals.input_tokens, summary.totals.output_tokens) == (tokens_in, tokens_out)


async def test_events_published_while_metering_is_down_are_counted_once(
    nc: NatsClient, metering_nats_url: str, db_url: str
) -> None:
    js = nc.jetstream()
    settings = settings_for(metering_nats_url, db_url)
    async with running(settings, nc):  # the durable consumer exists from now on
        pass
    user = f"u-{uuid.uuid4().hex[:8]}"
    events, tokens_in, tokens_out = traffic(user, 25, seed=2)
    for event in events:
        await publish(js, event)
    async with running(settings, nc):
        await wait_consumer_idle(js)
        summary = await summary_of(nc, user_id=user)
    assert summary.totals.requests == 25
    assert (summary.totals.input_tokens, summary.totals.output_tokens) == (tokens_in, tokens_out)


async def test_a_terminal_event_before_its_accepted_event(
    nc: NatsClient, metering_nats_url: str, db_url: str
) -> None:
    js = nc.jetstream()
    user = f"u-{uuid.uuid4().hex[:8]}"
    async with running(settings_for(metering_nats_url, db_url), nc):
        await publish(js, ev.completed(f"{user}-r", user, prompt=5, completion=6))
        await publish(js, ev.accepted(f"{user}-r", user, api_key_id="key-1"))
        await wait_consumer_idle(js)
        (record,) = (await records_of(nc, user_id=user)).records
    assert (record.status, record.api_key_id, record.input_tokens) == ("completed", "key-1", 5)


async def test_malformed_event_is_terminated_and_service_goes_on(
    nc: NatsClient, metering_nats_url: str, db_url: str
) -> None:
    js = nc.jetstream()
    user = f"u-{uuid.uuid4().hex[:8]}"
    async with running(settings_for(metering_nats_url, db_url), nc):
        await js.publish(subjects.EVENT_COMPLETED, b"{not json")
        await js.publish(subjects.EVENT_ACCEPTED, b'{"type": "accepted", "request_id": 1}')
        await publish(js, ev.accepted(f"{user}-ok", user))
        await wait_consumer_idle(js)
        summary = await summary_of(nc, user_id=user)
    assert summary.totals.requests == 1
    assert summary.totals.in_progress == 1


async def test_bad_queries_get_invalid_request(
    nc: NatsClient, metering_nats_url: str, db_url: str
) -> None:
    async with running(settings_for(metering_nats_url, db_url), nc):
        for payload in (
            b"nonsense",
            encode(UsageQuery(start=10.0, end=10.0)),
            b'{"start": 0, "end": 1, "user_id": ""}',
        ):
            msg = await nc.request(subjects.USAGE_SUMMARY, payload, timeout=5)
            reply = msgspec.json.decode(msg.data, type=Reply[UsageSummary])
            assert reply.error is not None
            assert reply.error.code == ErrorCode.INVALID_REQUEST
        msg = await nc.request(subjects.USAGE_RECORDS, b'{"start":0,"end":1,"limit":0}', timeout=5)
        assert b"invalid_request" in msg.data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
async def test_database_down_then_up_loses_and_doubles_nothing(
    nc: NatsClient, metering_nats_url: str
) -> None:
    """PostgreSQL behind a TCP proxy that the test takes down and up: first the service
    starts while the database is unreachable, then the database goes away mid-run."""
    js = nc.jetstream()
    user = f"u-{uuid.uuid4().hex[:8]}"
    first, _, _ = traffic(f"{user}-a", 10, seed=3)
    second, _, _ = traffic(f"{user}-b", 10, seed=4)
    name = await create_pg_database()
    proxy = TcpProxy(_free_port(), PG_HOST, PG_PORT)
    try:
        settings = settings_for(metering_nats_url, make_pg_url(name, proxy.port))
        async with running(settings, nc, ready=False) as task:
            await asyncio.sleep(1.0)  # it is retrying the database meanwhile
            assert not task.done()
            await proxy.start()
            await wait_ready(nc)
            for event in first:
                await publish(js, event)
            await wait_consumer_idle(js)

            await proxy.stop()  # the database goes away, with every open connection
            msg = await nc.request(
                subjects.USAGE_SUMMARY, encode(UsageQuery(start=0, end=1)), timeout=10
            )
            down = msgspec.json.decode(msg.data, type=Reply[UsageSummary])
            assert down.error is not None
            assert down.error.code == ErrorCode.SERVICE_UNAVAILABLE
            for event in second:
                await publish(js, event)
            await asyncio.sleep(1.5)  # retrying with back-off; nothing acked meanwhile
            info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.METERING_EVENTS_CONSUMER)
            assert info.num_pending + info.num_ack_pending == 20
            await proxy.start()
            await wait_consumer_idle(js)
            a = await summary_of(nc, user_id=f"{user}-a")
            b = await summary_of(nc, user_id=f"{user}-b")
    finally:
        await proxy.stop()
        await drop_pg_database(name)
    assert (a.totals.requests, b.totals.requests) == (10, 10)
    assert a.totals.in_progress == b.totals.in_progress == 0
