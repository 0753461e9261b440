"""``NatsGateway.replay`` reads a request's chunks back from the capture stream, and a
reconnect tells every open feed to resync (real nats-server)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from nats.aio.client import Client as NatsClient

from chat_api.bus import capture as capture_module
from chat_api.bus.signals import Resync
from chat_api.gateway import NatsGateway
from chat_api.workers import WorkerRegistry
from contracts import codec, subjects
from contracts.inference import ChatMessage, ChatRequest, Chunk, StreamStarted, TokenChunk, Usage
from local_stack.ports import free_port
from tests.persistence.tcp_proxy import TcpProxy

pytestmark = pytest.mark.nats
RELAY = "some-api"
"""The relay the chunks were streamed to: replay reads them whichever it was."""


@pytest.fixture
async def gateway(nats_url: str) -> AsyncIterator[NatsGateway]:
    connected = await NatsGateway.connect(nats_url, WorkerRegistry(3.0), timeout_s=10.0)
    yield connected
    await connected.close()


def _answer(words: int) -> list[Chunk]:
    chunks: list[Chunk] = [StreamStarted(seq=0, worker_id="w1", model="m", prompt_tokens=2)]
    chunks += [TokenChunk(seq=seq, text=f"w{seq} ") for seq in range(1, words)]
    usage = Usage(prompt_tokens=2, completion_tokens=words)
    chunks.append(TokenChunk(seq=words, text="end", finish_reason="stop", usage=usage))
    return chunks


async def _publish(nc: NatsClient, request_id: str, chunks: list[Chunk]) -> None:
    """As the worker does: core publishes, which the capture stream stores."""
    for chunk in chunks:
        await nc.publish(subjects.chunk_subject(RELAY, request_id), codec.encode(chunk))
    await nc.flush()


async def _captured(nc: NatsClient, request_id: str, count: int) -> None:
    js = nc.jetstream()
    subject = subjects.chunk_subject(RELAY, request_id)
    for _ in range(200):
        info = await js.stream_info(subjects.CHUNKS_STREAM, subjects_filter=subject)
        if (info.state.subjects or {}).get(subject, 0) >= count:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{count} chunks of {request_id} never captured")


def _seqs(chunks: list[Chunk]) -> list[int]:
    return [chunk.seq for chunk in chunks]


async def test_replay_reads_ranges_of_one_request(
    gateway: NatsGateway, nats_client: NatsClient
) -> None:
    mine, other = uuid.uuid4().hex, uuid.uuid4().hex
    answer = _answer(300)  # more than one fetch batch
    for start in range(0, len(answer), 50):  # interleaved with another request's chunks
        await _publish(nats_client, mine, answer[start : start + 50])
        await _publish(nats_client, other, _answer(3))
    await _captured(nats_client, mine, len(answer))

    assert await gateway.replay(mine, 1, 4) == answer[2:4]
    assert await gateway.replay(mine, -1, 1) == answer[:1]
    assert _seqs(await gateway.replay(mine, 250, None)) == list(range(251, 301))
    assert await gateway.replay(mine, -1, None) == answer
    assert await gateway.replay(mine, 300, None) == []
    # Past the last chunk: what there is, at once (nothing follows a finish).
    began = time.monotonic()
    assert _seqs(await gateway.replay(mine, 298, 310)) == [299, 300]
    assert time.monotonic() - began < 1.0

    began = time.monotonic()
    assert await gateway.replay(uuid.uuid4().hex, -1, None) == []  # nothing captured
    assert time.monotonic() - began < 1.0
    # Each replay's consumer is gone afterwards.
    js = nats_client.jetstream()
    subject = subjects.request_chunk_subjects(mine)
    for _ in range(100):
        consumers = await js.consumers_info(subjects.CHUNKS_STREAM)
        if not any(c.config.filter_subject == subject for c in consumers):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("replay consumers left behind")


async def test_replay_waits_briefly_for_a_late_capture(
    gateway: NatsGateway, nats_client: NatsClient
) -> None:
    request_id = uuid.uuid4().hex
    answer = _answer(4)
    await _publish(nats_client, request_id, answer[:2])
    await _captured(nats_client, request_id, 2)
    replay = asyncio.create_task(gateway.replay(request_id, 0, 3))
    await asyncio.sleep(0.2)  # the range is not captured yet: the replay waits for it
    await _publish(nats_client, request_id, answer[2:])
    assert await asyncio.wait_for(replay, 3) == answer[1:3]


async def test_replay_is_bounded_and_empty_when_nothing_comes(
    gateway: NatsGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture_module, "REPLAY_TIMEOUT_S", 0.3)
    began = time.monotonic()
    assert await gateway.replay(uuid.uuid4().hex, 0, 3) == []
    assert time.monotonic() - began < 1.0
    await gateway.nc.close()  # no connection at all: empty too, no exception
    assert await gateway.replay(uuid.uuid4().hex, 0, None) == []


async def test_reconnect_tells_every_open_feed_to_resync(nats_url: str) -> None:
    server = urlsplit(nats_url)
    assert server.hostname is not None
    assert server.port is not None
    proxy = TcpProxy(free_port(), server.hostname, server.port)
    await proxy.start()
    try:
        gateway = await NatsGateway.connect(
            f"nats://127.0.0.1:{proxy.port}", WorkerRegistry(3.0), timeout_s=10.0
        )
        reconnects: asyncio.Queue[None] = asyncio.Queue()
        gateway.on_reconnect.append(lambda: reconnects.put_nowait(None))
        now = time.time()
        requests = [
            ChatRequest(
                request_id=uuid.uuid4().hex,
                user_id="u1",
                model=f"m-{uuid.uuid4().hex[:8]}",
                messages=(ChatMessage(role="user", content="hi"),),
                deadline=now + 30,
                created_at=now,
            )
            for _ in range(2)
        ]
        open_feed, closed_feed = [await gateway.open(request) for request in requests]
        gateway.cancel(closed_feed.request_id, "client_disconnected")  # withdrawn
        closed_feed.close()
        # Settle the accepted events and the withdrawal first: they are not under test.
        await gateway.background.wait(5.0)
        assert await gateway.events.flush(5.0)

        await proxy.stop()  # drops the gateway's connection
        await asyncio.sleep(0.6)
        await proxy.start()
        await asyncio.wait_for(reconnects.get(), 10)

        assert open_feed.get_nowait() == Resync()
        assert len(closed_feed) == 0
        gateway.cancel(open_feed.request_id, "client_disconnected")
        open_feed.close()
        assert gateway.feeds.open == {}
        await gateway.close()
    finally:
        await proxy.stop()
