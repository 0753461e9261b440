"""``RpcServer`` over a real nats-server: a reply the server would not take (over the max
payload, the request's headers counted) becomes a prompt ``reply_too_large`` error, logged
and counted as that outcome; before, ``msg.respond`` raised, nothing was sent and the
caller waited for its timeout."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError

from contracts.codec import encode
from contracts.errors import ErrorCode
from contracts.rpc import Reply
from llmchat_bus.rpc import OK, RpcServer, headers_size, route
from tests.conftest import NatsServers

pytestmark = pytest.mark.nats

SUBJECT = "test.v1.rpc.blob"


class Blob(msgspec.Struct, frozen=True, kw_only=True):
    size: int
    """The size of the encoded ``Reply`` to answer with."""


class BlobOut(msgspec.Struct, frozen=True, kw_only=True):
    data: str


OVERHEAD = len(encode(Reply[BlobOut](ok=BlobOut(data=""))))


async def blob(request: Blob) -> BlobOut:
    return BlobOut(data="x" * (request.size - OVERHEAD))


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    yield client
    await client.drain()


Outcomes = list[tuple[str, str]]


@pytest.fixture
async def outcomes(nc: NatsClient) -> AsyncIterator[Outcomes]:
    seen: Outcomes = []
    rpc = RpcServer(
        nc,
        [route(SUBJECT, Blob, blob)],
        queue="test",
        concurrency=4,
        on_answered=lambda subject, outcome, _s: seen.append((subject, outcome)),
    )
    await rpc.start()
    yield seen
    await rpc.stop(1.0)


async def ask(nc: NatsClient, size: int, headers: dict[str, str] | None = None) -> Reply[Any]:
    msg = await nc.request(SUBJECT, encode(Blob(size=size)), timeout=5, headers=headers)
    return msgspec.json.decode(msg.data, type=Reply[BlobOut])


async def test_a_reply_over_the_max_payload_is_a_prompt_error(
    nc: NatsClient, outcomes: Outcomes, caplog: pytest.LogCaptureFixture
) -> None:
    assert nc.max_payload == 1024 * 1024  # the server's default
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="llmchat_bus.rpc"):
        reply = await ask(nc, 1_500_000)
    assert time.monotonic() - started < 1.0  # not the caller's timeout
    assert reply.ok is None
    assert reply.error is not None
    assert reply.error.code == ErrorCode.REPLY_TOO_LARGE
    assert "1500000 bytes" in reply.error.message
    assert outcomes == [(SUBJECT, ErrorCode.REPLY_TOO_LARGE.value)]
    assert any("exceeds the max payload" in r.getMessage() for r in caplog.records)
    # The connection is fine: the next, smaller reply goes through.
    small = await ask(nc, 1000)
    assert small.ok is not None
    assert outcomes[-1] == (SUBJECT, OK)


async def test_the_largest_reply_that_fits_is_sent_headers_counted(
    nc: NatsClient, outcomes: Outcomes
) -> None:
    """``respond`` sends the request's headers back (trace context): the server's limit
    counts them, and a reply they push over it would cost the connection."""
    limit = nc.max_payload
    fits = await ask(nc, limit)
    assert fits.ok is not None
    assert len(fits.ok.data) == limit - OVERHEAD
    headers = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    room = limit - headers_size(headers)
    with_headers = await ask(nc, room, headers)
    assert with_headers.ok is not None
    over = await ask(nc, room + 1, headers)
    assert over.error is not None
    assert over.error.code == ErrorCode.REPLY_TOO_LARGE
    assert [o for _, o in outcomes] == [OK, OK, ErrorCode.REPLY_TOO_LARGE.value]
    assert nc.is_connected
    assert (await ask(nc, 10)).ok is not None


def test_headers_size_is_the_header_block() -> None:
    assert headers_size(None) == 0
    assert headers_size({}) == len(b"NATS/1.0\r\n\r\n")  # an empty block is still sent
    # NATS/1.0\r\n + "k: v\r\n" per header + \r\n
    assert headers_size({"ab": "cd"}) == len(b"NATS/1.0\r\nab: cd\r\n\r\n")


async def test_a_server_with_a_smaller_max_payload_is_honoured(
    tmp_path: Path, nats_servers: NatsServers
) -> None:
    """The limit is the connection's (the server's ``max_payload``), not a constant."""
    config = tmp_path / "nats.conf"
    config.write_text("max_payload: 65536\n")
    # private: a server of its own with a smaller max payload
    with nats_servers.private("nats-small", config=config) as small:
        client = await nats.connect(small.url)
        try:
            seen: Outcomes = []
            rpc = RpcServer(
                client,
                [route(SUBJECT, Blob, blob)],
                queue="test",
                concurrency=1,
                on_answered=lambda subject, outcome, _s: seen.append((subject, outcome)),
            )
            await rpc.start()
            assert client.max_payload == 65536
            assert (await ask(client, 65536)).ok is not None
            reply = await ask(client, 100_000)
            assert reply.error is not None
            assert reply.error.code == ErrorCode.REPLY_TOO_LARGE
            assert [o for _, o in seen] == [OK, ErrorCode.REPLY_TOO_LARGE.value]
            await rpc.stop(1.0)
        finally:
            await client.drain()


async def test_stop_lets_the_requests_in_hand_finish_and_takes_no_more(nc: NatsClient) -> None:
    """At ``stop`` the subscription goes first (the queue group hands new requests to the
    other instances: here there are none), the request in hand still gets its reply."""
    subject = "test.v1.rpc.slow"
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(_request: Blob) -> BlobOut:
        started.set()
        await release.wait()
        return BlobOut(data="done")

    rpc = RpcServer(nc, [route(subject, Blob, slow)], queue="test", concurrency=1)
    await rpc.start()
    asked = asyncio.create_task(nc.request(subject, encode(Blob(size=0)), timeout=5))
    await started.wait()
    stopping = asyncio.create_task(rpc.stop(5.0))
    await asyncio.sleep(0.2)
    assert not stopping.done()  # waits for the request in hand
    with pytest.raises(NoRespondersError):
        await nc.request(subject, encode(Blob(size=0)), timeout=1)
    release.set()
    await stopping
    reply = msgspec.json.decode((await asked).data, type=Reply[BlobOut])
    assert reply.ok == BlobOut(data="done")


async def test_stop_cancels_what_outlives_its_timeout(nc: NatsClient) -> None:
    subject = "test.v1.rpc.stuck"
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(_request: Blob) -> BlobOut:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    rpc = RpcServer(nc, [route(subject, Blob, stuck)], queue="test", concurrency=4)
    await rpc.start()
    asked = asyncio.create_task(nc.request(subject, encode(Blob(size=0)), timeout=2))
    await started.wait()
    await asyncio.wait_for(rpc.stop(0.2), 2.0)
    await asyncio.wait_for(cancelled.wait(), 1.0)
    with pytest.raises(nats.errors.TimeoutError):
        await asked
