"""Relay endings: deadline, lost worker, cancel, shutdown, consumer gone."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from chat_api.relay import KeepAlive, Relay, StreamFailure, StreamTable
from contracts.inference import ChatMessage, ChatRequest, StreamStarted, TokenChunk
from tests.api.fake_gateway import FakeGateway


def _request(timeout_s: float = 5.0) -> ChatRequest:
    now = time.time()
    return ChatRequest(
        request_id="r1",
        user_id="u1",
        model="gemma3-270m",
        messages=(ChatMessage(role="user", content="hi"),),
        deadline=now + timeout_s,
        created_at=now,
    )


async def _collect(relay: Relay) -> list[object]:
    return [item async for item in relay.events()]


async def _open(gateway: FakeGateway, timeout_s: float = 5.0) -> Relay:
    gateway.script = lambda request: []
    request = _request(timeout_s)
    return Relay(gateway, request, await gateway.open(request))


async def test_deadline_before_any_worker() -> None:
    gateway = FakeGateway()
    relay = await _open(gateway, timeout_s=0.2)
    items = await asyncio.wait_for(_collect(relay), 2)
    assert items == [StreamFailure(code="timeout", message="the request passed its deadline")]
    assert gateway.cancels == [("r1", "timeout")]
    assert [f.code for f in gateway.failed] == ["timeout"]


async def test_deadline_after_start_cancels_without_failed_event() -> None:
    gateway = FakeGateway()
    relay = await _open(gateway, timeout_s=0.2)
    relay.feed.push(StreamStarted(seq=0, worker_id="w-gemma3-270m", model="m", prompt_tokens=1))
    items = await asyncio.wait_for(_collect(relay), 2)
    assert isinstance(items[-1], StreamFailure)
    assert items[-1].code == "timeout"
    assert gateway.cancels == [("r1", "timeout")]
    assert gateway.failed == []


async def test_worker_lost_mid_stream() -> None:
    gateway = FakeGateway()
    relay = await _open(gateway)
    relay.feed.push(StreamStarted(seq=0, worker_id="w-gemma3-270m", model="m", prompt_tokens=1))
    relay.feed.push(TokenChunk(seq=1, text="a"))
    events = aiter(relay.events())
    assert await anext(events) == TokenChunk(seq=1, text="a")
    gateway.workers.stale_after_s = 0.0
    gateway.workers._workers["w-gemma3-270m"].seen_at -= 10  # silent for 10 s
    gateway.workers.sweep()
    last = await asyncio.wait_for(anext(events), 1)
    assert isinstance(last, StreamFailure)
    assert last.code == "worker_lost"
    assert [f.code for f in gateway.failed] == ["worker_lost"]
    assert gateway.failed[0].worker_id == "w-gemma3-270m"
    await events.aclose()  # type: ignore[attr-defined]
    assert gateway.cancels == []


async def test_cancel_route_signal() -> None:
    gateway = FakeGateway()
    table = StreamTable()
    relay = await _open(gateway)
    table.add(relay)
    relay._on_close = table.remove
    relay.cancel()
    items = await asyncio.wait_for(_collect(relay), 1)
    assert isinstance(items[0], StreamFailure)
    assert items[0].code == "cancelled"
    assert gateway.cancels == [("r1", "client_cancelled")]
    assert len(table) == 0


async def test_shutdown_ends_every_stream() -> None:
    gateway = FakeGateway()
    table = StreamTable()
    relay = await _open(gateway)
    table.add(relay)
    relay._on_close = table.remove
    task = asyncio.create_task(_collect(relay))
    await asyncio.sleep(0)
    table.begin_shutdown()
    assert await table.wait_empty(1)
    items = await task
    assert isinstance(items[0], StreamFailure)
    assert items[0].code == "shutting_down"
    assert gateway.cancels == [("r1", "shutdown")]
    assert not table.accepting


async def test_consumer_cancelled_publishes_client_disconnected() -> None:
    gateway = FakeGateway()
    relay = await _open(gateway)
    task = asyncio.create_task(_collect(relay))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert gateway.cancels == [("r1", "client_disconnected")]
    assert relay.feed.closed


async def test_finished_stream_publishes_no_cancel() -> None:
    gateway = FakeGateway()
    relay = await _open(gateway)
    relay.feed.push(TokenChunk(seq=1, text="a", finish_reason="stop"))
    items = await asyncio.wait_for(_collect(relay), 1)
    assert len(items) == 1
    assert gateway.cancels == []


# --- wire-level oddities: the real worker never sends these, so a fed relay stands in ---
async def test_wire_duplicate_chunk_is_dropped() -> None:
    gateway = FakeGateway()
    relay = await _open(gateway)
    for chunk in (
        StreamStarted(seq=0, worker_id="w-gemma3-270m", model="m", prompt_tokens=1),
        TokenChunk(seq=1, text="a"),
        TokenChunk(seq=1, text="a"),  # redelivered
        TokenChunk(seq=2, text="b"),
        TokenChunk(seq=1, text="a"),  # late
        TokenChunk(seq=3, text="c", finish_reason="stop"),
    ):
        relay.feed.push(chunk)
    items = await asyncio.wait_for(_collect(relay), 1)
    assert [(i.seq, i.text) for i in items if isinstance(i, TokenChunk)] == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
    ]
    assert len(items) == 3
    assert gateway.cancels == []


async def test_wire_chunk_gap_is_logged_and_relayed(caplog: pytest.LogCaptureFixture) -> None:
    gateway = FakeGateway()
    relay = await _open(gateway)
    for chunk in (
        StreamStarted(seq=0, worker_id="w-gemma3-270m", model="m", prompt_tokens=1),
        TokenChunk(seq=1, text="a"),
        TokenChunk(seq=3, text="c"),  # seq 2 lost on the wire
        TokenChunk(seq=4, text="d", finish_reason="stop"),
    ):
        relay.feed.push(chunk)
    with caplog.at_level(logging.WARNING, logger="chat_api.relay"):
        items = await asyncio.wait_for(_collect(relay), 1)
    assert [i.seq for i in items if isinstance(i, TokenChunk)] == [1, 3, 4]
    assert "chunk gap 1 -> 3" in caplog.text
    assert gateway.cancels == []


async def test_keepalive_only_while_nothing_arrives() -> None:
    """A quiet stream gets a KeepAlive each period; one with chunks flowing does not."""
    gateway = FakeGateway()
    relay = await _open(gateway)
    events = aiter(relay.events(0.05))
    assert await asyncio.wait_for(anext(events), 1) == KeepAlive()  # queued, nothing yet
    assert await asyncio.wait_for(anext(events), 1) == KeepAlive()
    relay.feed.push(StreamStarted(seq=0, worker_id="w-gemma3-270m", model="m", prompt_tokens=1))

    async def steady_tokens() -> None:
        for seq in range(1, 9):
            relay.feed.push(TokenChunk(seq=seq, text="t"))
            await asyncio.sleep(0.02)  # faster than the period
        relay.feed.push(TokenChunk(seq=9, text=".", finish_reason="stop"))

    producer = asyncio.create_task(steady_tokens())
    rest = [item async for item in events]
    await producer
    assert [type(item).__name__ for item in rest] == ["TokenChunk"] * 9


async def test_sse_frames_carry_keepalive_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    from chat_api.chat import sse

    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.05)
    gateway = FakeGateway()
    relay = await _open(gateway)
    frames = aiter(sse.chat_frames(relay))
    assert (await anext(frames)).startswith(b"event: start\n")
    assert await asyncio.wait_for(anext(frames), 1) == b": keep-alive\n\n"
    relay.feed.push(TokenChunk(seq=1, text="hi", finish_reason="stop"))
    rest = [frame async for frame in frames]
    assert rest[0].startswith(b"id: 1\nevent: token\n")
    assert rest[-1].startswith(b"event: done\n")
