"""Chunks reach the right feeds: one subscription per api instance carries the chunks of
every request it accepted; a client following a request from another instance gets them
too (two gateways on the real nats-server, chunks published as a worker does)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient

from chat_api.bus.feeds import Feed
from chat_api.gateway import NatsGateway
from chat_api.workers import WorkerRegistry
from contracts import codec, subjects
from contracts.inference import ChatMessage, ChatRequest, TokenChunk

pytestmark = pytest.mark.nats


@pytest.fixture
async def gateways(nats_url: str) -> AsyncIterator[tuple[NatsGateway, NatsGateway]]:
    first = await NatsGateway.connect(nats_url, WorkerRegistry(3.0), timeout_s=10.0)
    second = await NatsGateway.connect(nats_url, WorkerRegistry(3.0), timeout_s=10.0)
    yield first, second
    await first.close()
    await second.close()


def chat_request() -> ChatRequest:
    now = time.time()
    return ChatRequest(
        request_id=f"r-{uuid.uuid4().hex[:8]}",
        user_id="u1",
        model=f"m-{uuid.uuid4().hex[:8]}",  # no worker: the request stays queued
        messages=(ChatMessage(role="user", content="hi"),),
        deadline=now + 30,
        created_at=now,
    )


async def stream(nc: NatsClient, relay: str, request_id: str, *texts: str) -> None:
    """As the worker does: core publishes on the relay's chunk subject."""
    for seq, text in enumerate(texts, start=1):
        chunk = TokenChunk(seq=seq, text=text)
        await nc.publish(subjects.chunk_subject(relay, request_id), codec.encode(chunk))
    await nc.flush()


async def texts(feed: Feed, count: int) -> list[str]:
    got: list[str] = []
    while len(got) < count:
        item = await asyncio.wait_for(feed.get(), 5.0)
        assert isinstance(item, TokenChunk)
        got.append(item.text)
    return got


async def test_each_instance_gets_the_chunks_of_its_own_requests(
    gateways: tuple[NatsGateway, NatsGateway], nats_client: NatsClient
) -> None:
    first, second = gateways
    assert first.feeds.relay_id != second.feeds.relay_id
    mine, theirs = chat_request(), chat_request()
    my_feed = await first.open(mine)
    their_feed = await second.open(theirs)
    queued = await nats_client.jetstream().get_last_msg(
        subjects.REQUESTS_STREAM, subjects.request_subject(mine.model)
    )
    # what a worker reads: where to stream the chunks
    assert queued.data is not None
    assert codec.decode_chat_request(queued.data).relay == first.feeds.relay_id

    await stream(nats_client, first.feeds.relay_id, mine.request_id, "a", "b")
    await stream(nats_client, second.feeds.relay_id, theirs.request_id, "x")
    await stream(nats_client, first.feeds.relay_id, "unknown-request", "lost")  # ignored
    assert await texts(my_feed, 2) == ["a", "b"]
    assert await texts(their_feed, 1) == ["x"]
    await asyncio.sleep(0.1)
    assert len(my_feed) == len(their_feed) == 0

    my_feed.close()
    their_feed.close()
    assert first.feeds.open == second.feeds.open == {}
    await stream(nats_client, first.feeds.relay_id, mine.request_id, "late")  # dropped


async def test_a_client_on_another_instance_follows_the_answer(
    gateways: tuple[NatsGateway, NatsGateway], nats_client: NatsClient
) -> None:
    first, second = gateways
    request = chat_request()
    owner = await first.open(request)
    chat = await second.open_chat(request.request_id)  # what the first one recorded
    assert chat is not None
    follower = await second.attach(chat)
    await second.nc.flush()  # its subscription is in place (what came before: replay)
    await stream(nats_client, first.feeds.relay_id, request.request_id, "one", "two")
    assert await texts(owner, 2) == ["one", "two"]
    assert await texts(follower, 2) == ["one", "two"]
    follower.close()
    owner.close()
