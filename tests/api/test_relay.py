"""Relay endings: deadline, lost worker, cancel, shutdown, consumer gone; chunks lost on
the wire, replayed from the capture stream (``FakeGateway.captured``)."""

from __future__ import annotations

import asyncio
import time

import pytest

from chat_api.queue_positions import QueueUpdate
from chat_api.relay import KeepAlive, Relay, StreamFailure, StreamTable
from contracts.inference import (
    CancelReason,
    ChatMessage,
    ChatRequest,
    Chunk,
    StreamError,
    StreamStarted,
    TokenChunk,
    Usage,
)
from tests.api.fake_gateway import FakeGateway, answer


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


async def _open_scripted(gateway: FakeGateway, timeout_s: float = 5.0) -> Relay:
    """A relay of ``gateway.script``'s chunks, less ``gateway.lost_seqs`` (captured only)."""
    request = _request(timeout_s)
    return Relay(gateway, request, await gateway.open(request))


def _tokens(items: list[object]) -> list[tuple[int, str]]:
    return [(i.seq, i.text) for i in items if isinstance(i, TokenChunk)]


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
    assert gateway.replays == []  # a duplicate is no gap


# --- chunks lost on the wire (a reconnect of the api's NATS connection) ---------------
async def test_gap_is_filled_from_the_capture_in_order() -> None:
    gateway = FakeGateway(answer("a", "b", "c", "d", "e"))
    gateway.lost_seqs = {2, 3}
    relay = await _open_scripted(gateway)
    items = await asyncio.wait_for(_collect(relay), 1)
    assert _tokens(items) == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
    last = items[-1]
    assert isinstance(last, TokenChunk)
    assert last.finish_reason == "stop"
    assert gateway.replays == [("r1", 1, 4)]  # only the missing range
    assert relay.outcome == "stop"
    assert gateway.cancels == []


async def test_lost_stream_started_is_replayed_and_the_worker_watched() -> None:
    gateway = FakeGateway(answer("a", "b", worker_id="w-gemma3-270m"))
    gateway.lost_seqs = {0}
    relay = await _open_scripted(gateway)
    items = await asyncio.wait_for(_collect(relay), 1)
    assert _tokens(items) == [(1, "a"), (2, "b")]
    assert gateway.replays == [("r1", -1, 1)]
    assert relay.worker_id == "w-gemma3-270m"


async def test_gap_the_capture_cannot_fill_interrupts_and_cancels() -> None:
    gateway = FakeGateway(answer("a", "b", "c"))
    gateway.lost_seqs = gateway.expired_seqs = {2}
    relay = await _open_scripted(gateway)
    items = await asyncio.wait_for(_collect(relay), 1)
    assert items == [
        TokenChunk(seq=1, text="a"),
        StreamFailure(
            code="stream_interrupted", message="part of the answer was lost in transit; retry"
        ),
    ]
    assert relay.outcome == "stream_interrupted"
    # Not a done: the generation is cancelled, and the worker reports how it ended.
    assert gateway.cancels == [("r1", "client_disconnected")]
    assert gateway.failed == []


async def test_gap_before_a_stream_error_is_filled() -> None:
    gateway = FakeGateway(
        lambda request: [
            StreamStarted(seq=0, worker_id="w1", model=request.model, prompt_tokens=1),
            TokenChunk(seq=1, text="a"),
            TokenChunk(seq=2, text="b"),
            StreamError(seq=3, code="engine_error", message="oom"),
        ]
    )
    gateway.lost_seqs = {2}
    relay = await _open_scripted(gateway)
    items = await asyncio.wait_for(_collect(relay), 1)
    assert _tokens(items) == [(1, "a"), (2, "b")]
    assert items[-1] == StreamFailure(code="engine_error", message="oom")
    assert gateway.cancels == []


async def test_resync_after_a_reconnect_delivers_a_lost_final_chunk() -> None:
    gateway = FakeGateway(answer("a", "b", "c"))
    gateway.lost_seqs = {3}  # the last chunk: nothing live would ever reveal the gap
    relay = await _open_scripted(gateway)
    events = aiter(relay.events())
    assert await anext(events) == TokenChunk(seq=1, text="a")
    assert await anext(events) == TokenChunk(seq=2, text="b")
    gateway.reconnected()
    last = await asyncio.wait_for(anext(events), 1)
    assert last == TokenChunk(
        seq=3, text="c", finish_reason="stop", usage=Usage(prompt_tokens=3, completion_tokens=3)
    )
    assert gateway.replays == [("r1", 2, None)]
    with pytest.raises(StopAsyncIteration):
        await anext(events)
    assert relay.outcome == "stop"
    assert gateway.cancels == []


async def test_resync_replay_and_late_live_chunks_are_not_relayed_twice() -> None:
    gateway = FakeGateway()
    relay = await _open(gateway)
    chunks: list[Chunk] = [
        StreamStarted(seq=0, worker_id="w-gemma3-270m", model="m", prompt_tokens=1),
        TokenChunk(seq=1, text="a"),
        TokenChunk(seq=2, text="b"),
        TokenChunk(seq=3, text="c"),
        TokenChunk(seq=4, text="d", finish_reason="stop"),
    ]
    gateway.captured["r1"] = chunks[:4]  # the capture has up to seq 3 when asked
    relay.feed.push(chunks[0])
    relay.feed.push(chunks[1])
    gateway.reconnected()
    for chunk in chunks[2:]:  # the resubscribed live feed overlaps the replay
        relay.feed.push(chunk)
    items = await asyncio.wait_for(_collect(relay), 1)
    assert _tokens(items) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert gateway.replays == [("r1", 1, None)]
    assert gateway.cancels == []


async def test_resync_with_nothing_missed_changes_nothing() -> None:
    gateway = FakeGateway()
    relay = await _open(gateway)
    relay.feed.push(StreamStarted(seq=0, worker_id="w-gemma3-270m", model="m", prompt_tokens=1))
    gateway.reconnected()  # nothing captured yet: an empty replay
    relay.feed.push(TokenChunk(seq=1, text="a", finish_reason="stop"))
    items = await asyncio.wait_for(_collect(relay), 1)
    assert _tokens(items) == [(1, "a")]
    assert gateway.replays == [("r1", 0, None)]


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


async def test_queue_updates_reach_sse_writers_only_while_waiting() -> None:
    gateway = FakeGateway()
    relay = await _open(gateway)
    relay.feed.push(QueueUpdate(position=2, eta_s=None))
    relay.feed.push(QueueUpdate(position=1, eta_s=3.5))
    relay.feed.push(StreamStarted(seq=0, worker_id="w-gemma3-270m", model="m", prompt_tokens=1))
    relay.feed.push(QueueUpdate(position=1, eta_s=1.0))  # late: the worker has it
    relay.feed.push(TokenChunk(seq=1, text="a", finish_reason="stop"))
    items = await asyncio.wait_for(_collect_sse(relay), 2)
    assert items[:2] == [QueueUpdate(position=2, eta_s=None), QueueUpdate(position=1, eta_s=3.5)]
    assert [type(i) for i in items[2:]] == [TokenChunk]

    other = await _open(FakeGateway())
    other.feed.push(QueueUpdate(position=1, eta_s=None))
    other.feed.push(TokenChunk(seq=1, text="a", finish_reason="stop"))
    assert [type(i) for i in await asyncio.wait_for(_collect(other), 2)] == [TokenChunk]


async def _collect_sse(relay: Relay) -> list[object]:
    return [item async for item in relay.events(60.0)]


@pytest.mark.parametrize("reason", ["client_cancelled", "client_disconnected", "timeout"])
async def test_a_cancel_signal_carries_its_reason_to_the_cancel(reason: CancelReason) -> None:
    gateway = FakeGateway()
    relay = await _open(gateway)
    relay.cancel(reason)
    items = await asyncio.wait_for(_collect(relay), 1)
    assert items == [StreamFailure(code="cancelled", message="cancelled by the client")]
    assert gateway.cancels == [("r1", reason)]
