"""``JetStreamOutbox`` against a real nats-server that goes away and comes back (same port,
same store): nothing handed in is lost, order is kept, and a message is given up only
after its bound."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import StreamConfig

from llmchat_bus.outbox import JetStreamOutbox
from local_stack.nats_server import NatsServer
from tests.conftest import NatsServers

pytestmark = pytest.mark.nats

STREAM = "OUTBOX_TEST"
SUBJECT = "outbox.test"


@pytest.fixture
async def server(nats_servers: NatsServers) -> AsyncIterator[NatsServer]:
    # private: the tests stop and restart it
    with nats_servers.private("nats-outbox") as running:
        yield running


@pytest.fixture
async def nc(server: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(
        server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=2
    )
    await client.jetstream().add_stream(
        StreamConfig(name=STREAM, subjects=[SUBJECT], duplicate_window=60.0)
    )
    try:
        yield client
    finally:
        with contextlib.suppress(OSError):  # the test may have stopped the server
            await client.close()


async def stored(nc: NatsClient) -> list[bytes]:
    js = nc.jetstream()
    info = await js.stream_info(STREAM)
    return [
        (await js.get_msg(STREAM, seq)).data or b""
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


def hand_in(outbox: JetStreamOutbox, *bodies: str) -> None:
    for body in bodies:
        outbox.publish(SUBJECT, body.encode(), {"Nats-Msg-Id": body}, body)


async def test_messages_handed_in_while_nats_is_down_are_stored_in_order(
    server: NatsServer, nc: NatsClient
) -> None:
    outbox = JetStreamOutbox(nc.jetstream(), timeout_s=0.5, retry_max_s=0.2)
    hand_in(outbox, "a1")
    assert await outbox.flush(5.0)
    await asyncio.to_thread(server.stop)
    hand_in(outbox, "a2", "a3")  # a generation ending while JetStream is away
    await asyncio.sleep(1.0)
    assert len(outbox) == 2  # still held, not dropped
    server.start()
    assert await outbox.flush(20.0)
    await outbox.close(1.0)
    assert await stored(nc) == [b"a1", b"a2", b"a3"]
    assert (outbox.published, outbox.dropped) == (3, 0)


async def test_a_copy_stored_before_its_ack_was_lost_is_stored_once(nc: NatsClient) -> None:
    js = nc.jetstream()
    await js.publish(SUBJECT, b"b1", headers={"Nats-Msg-Id": "b1"})  # the "lost ack" try
    outbox = JetStreamOutbox(js)
    hand_in(outbox, "b1", "b2")
    await outbox.close(5.0)
    assert await stored(nc) == [b"b1", b"b2"]


async def test_close_waits_a_bounded_time_then_reports_what_is_lost(
    server: NatsServer, nc: NatsClient, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.to_thread(server.stop)
    outbox = JetStreamOutbox(nc.jetstream(), timeout_s=0.2, retry_max_s=0.1)
    hand_in(outbox, "c1")
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(outbox.close(0.5), 5.0)
    assert "not published at shutdown" in caplog.text
    assert "c1" in caplog.text


async def test_a_message_is_given_up_only_after_its_bound(
    server: NatsServer, nc: NatsClient, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.to_thread(server.stop)
    outbox = JetStreamOutbox(nc.jetstream(), timeout_s=0.2, retry_max_s=0.1, give_up_after_s=1.0)
    with caplog.at_level(logging.ERROR):
        hand_in(outbox, "d1")
        await asyncio.sleep(0.5)
        assert outbox.dropped == 0
        assert await outbox.flush(5.0)
    assert outbox.dropped == 1
    assert "d1 given up" in caplog.text
    await outbox.close(0.1)


async def test_a_full_outbox_drops_new_messages_and_says_so(
    server: NatsServer, nc: NatsClient, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.to_thread(server.stop)
    outbox = JetStreamOutbox(nc.jetstream(), timeout_s=0.2, max_pending=2)
    with caplog.at_level(logging.ERROR):
        hand_in(outbox, "e1", "e2", "e3")
    assert len(outbox) == 2
    assert outbox.dropped == 1
    assert "e3 dropped" in caplog.text
    await outbox.close(0.1)
