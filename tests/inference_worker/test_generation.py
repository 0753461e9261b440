"""Generation of one request with fake sinks and the scripted stand-in engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import pytest

from contracts.errors import ErrorCode
from contracts.events import RequestCancelled, RequestCompleted, RequestFailed
from contracts.inference import (
    ChatMessage,
    ChatRequest,
    SamplingParams,
    StreamError,
    StreamStarted,
    TokenChunk,
)
from inference_worker.engine import EngineDelta, GenerationParams, ScriptedEngine
from inference_worker.generation import Generation
from inference_worker.prompt import PromptBuilder
from inference_worker.timeline import TimelineStamps
from tests.inference_worker.fakes import BrokenChunkSink, ListChunkSink, ListEventSink

TEXT = "one two three four five"
WAIT = 5.0


def make_request(
    content: str = "hello",
    *,
    request_id: str = "r1",
    max_tokens: int | None = None,
    deadline_in: float = 30.0,
    conversation_id: str | None = None,
) -> ChatRequest:
    now = time.time()
    return ChatRequest(
        request_id=request_id,
        user_id="u1",
        model="m",
        messages=(ChatMessage(role="user", content=content),),
        sampling=SamplingParams(max_tokens=max_tokens),
        deadline=now + deadline_in,
        created_at=now,
        conversation_id=conversation_id,
    )


def make_generation(
    request: ChatRequest,
    engine: ScriptedEngine,
    chunks: ListChunkSink | BrokenChunkSink | None = None,
    events: ListEventSink | None = None,
    max_model_len: int = 4096,
    stamps: TimelineStamps | None = None,
    taken: asyncio.Future[bool] | None = None,
) -> tuple[Generation, ListChunkSink, ListEventSink]:
    sink = chunks if chunks is not None else ListChunkSink()
    event_sink = events or ListEventSink()
    prompts = PromptBuilder(
        engine.tokenizer,
        fallback_template="gemma",
        max_model_len=max_model_len,
        default_max_tokens=64,
    )
    generation = Generation(
        request,
        engine=engine,
        prompts=prompts,
        chunks=sink,
        events=event_sink,
        worker_id="w1",
        model="m",
        stamps=stamps,
        taken=taken,
    )
    assert isinstance(sink, ListChunkSink) or chunks is not None
    return generation, sink if isinstance(sink, ListChunkSink) else ListChunkSink(), event_sink


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine(tokens_per_s=1000.0, text=TEXT)


async def test_normal_stream(engine: ScriptedEngine) -> None:
    generation, chunks, events = make_generation(make_request(), engine)
    await asyncio.wait_for(generation.start(), WAIT)

    started, *tokens = chunks.chunks
    assert isinstance(started, StreamStarted)
    assert (started.seq, started.worker_id, started.model) == (0, "w1", "m")
    assert started.prompt_tokens == len(engine.prompts["r1"])
    assert all(isinstance(c, TokenChunk) for c in tokens)
    assert [c.seq for c in tokens] == [1, 2, 3, 4, 5]
    assert (
        "".join(c.text for c in tokens if isinstance(c, TokenChunk)) == "one two three four five "
    )
    last = tokens[-1]
    assert isinstance(last, TokenChunk)
    assert last.finish_reason == "stop"
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (started.prompt_tokens, 5)
    assert all(
        isinstance(c, TokenChunk) and c.finish_reason is None and len(c.token_ids) == 1
        for c in tokens[:-1]
    )
    [event] = events.events
    assert isinstance(event, RequestCompleted)
    assert (event.request_id, event.worker_id, event.finish_reason) == ("r1", "w1", "stop")
    assert event.usage == last.usage
    assert 0 < event.ttft_ms <= event.latency_ms
    assert event.text == "one two three four five "
    assert event.conversation_id is None
    assert generation.outcome == "stop"


async def test_the_last_chunk_carries_the_worker_timeline_in_order(
    engine: ScriptedEngine,
) -> None:
    fetched = time.time_ns()
    stamps = TimelineStamps(fetched, fetched + 1)
    generation, chunks, _ = make_generation(make_request(), engine, stamps=stamps)
    await asyncio.wait_for(generation.start(), WAIT)
    *tokens, last = chunks.chunks
    assert all(c.timeline is None for c in tokens if isinstance(c, TokenChunk))
    assert isinstance(last, TokenChunk)
    assert last.timeline is not None
    timeline = last.timeline
    steps = [
        timeline.fetched,
        timeline.acked,
        timeline.prompt_built,
        timeline.engine_submitted,
        timeline.first_output,
        timeline.first_chunk_sent,
    ]
    assert steps[:2] == [fetched, fetched + 1]
    assert steps == sorted(steps)
    # the scripted engine waits 1 ms before each token: the first output is after that
    assert timeline.first_output - timeline.engine_submitted >= 1_000_000
    assert timeline.first_chunk_sent <= time.time_ns()


async def test_a_one_token_answer_still_stamps_its_first_chunk() -> None:
    engine = ScriptedEngine(tokens_per_s=1000.0, text="only")
    generation, chunks, _ = make_generation(make_request(), engine)
    await asyncio.wait_for(generation.start(), WAIT)
    last = chunks.chunks[-1]
    assert isinstance(last, TokenChunk)
    assert last.timeline is not None
    assert last.timeline.first_output <= last.timeline.first_chunk_sent


async def test_terminal_events_carry_the_answer_and_conversation(engine: ScriptedEngine) -> None:
    request = make_request(conversation_id="c1", max_tokens=3)
    generation, _, events = make_generation(request, engine)
    await asyncio.wait_for(generation.start(), WAIT)
    [event] = events.events
    assert isinstance(event, RequestCompleted)
    assert (event.conversation_id, event.text) == ("c1", "one two three ")


async def test_max_tokens_finishes_with_length(engine: ScriptedEngine) -> None:
    generation, chunks, events = make_generation(make_request(max_tokens=2), engine)
    await asyncio.wait_for(generation.start(), WAIT)
    last = chunks.chunks[-1]
    assert isinstance(last, TokenChunk)
    assert (last.seq, last.finish_reason) == (2, "length")
    assert isinstance(events.events[0], RequestCompleted)


async def test_cancel_aborts_the_engine_and_reports_usage_so_far() -> None:
    engine = ScriptedEngine(tokens_per_s=50.0, text=TEXT)
    generation, chunks, events = make_generation(make_request("go [[tokens=1000]]"), engine)
    task = generation.start()
    await asyncio.wait_for(chunks.first_token.wait(), WAIT)
    generation.cancel("client_disconnected")
    await asyncio.wait_for(task, WAIT)

    assert not task.cancelled()
    assert engine.running == 0  # the engine's generation is gone
    error = chunks.chunks[-1]
    assert isinstance(error, StreamError)
    assert error.code == ErrorCode.CANCELLED
    assert error.seq == len(chunks.chunks) - 1
    assert error.usage is not None
    assert error.usage.completion_tokens >= 1
    [event] = events.events
    assert isinstance(event, RequestCancelled)
    assert event.reason == "client_disconnected"
    assert event.usage == error.usage
    # The partial answer travels with the event so it can be stored as far as it got.
    streamed = "".join(c.text for c in chunks.chunks if isinstance(c, TokenChunk))
    assert streamed
    assert event.text == streamed


async def test_cancel_before_the_task_runs(engine: ScriptedEngine) -> None:
    generation, chunks, events = make_generation(make_request(), engine)
    task = generation.start()
    generation.cancel("client_cancelled")
    await asyncio.wait_for(task, WAIT)
    [error] = chunks.chunks
    assert isinstance(error, StreamError)
    assert (error.seq, error.code) == (0, ErrorCode.CANCELLED)
    [event] = events.events
    assert isinstance(event, RequestCancelled)
    assert event.usage is None


async def test_the_engine_starts_before_the_ack_lands_but_nothing_is_sent_until_then(
    engine: ScriptedEngine,
) -> None:
    taken: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    generation, chunks, events = make_generation(make_request(), engine, taken=taken)
    task = generation.start()
    await asyncio.wait_for(engine.generating.wait(), WAIT)  # prefill under way
    await asyncio.sleep(0.05)  # the scripted answer (5 words at 1000/s) is done by now
    assert chunks.chunks == []
    assert events.events == []
    taken.set_result(True)
    await asyncio.wait_for(task, WAIT)
    assert isinstance(chunks.chunks[0], StreamStarted)
    assert [c.seq for c in chunks.chunks] == [0, 1, 2, 3, 4, 5]
    assert generation.outcome == "stop"
    assert isinstance(events.events[0], RequestCompleted)


async def test_an_ack_that_fails_aborts_the_engine_and_sends_nothing() -> None:
    """The request stays queued for another worker: a word from this one would answer it
    twice."""
    engine = ScriptedEngine(tokens_per_s=1000.0)
    taken: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    generation, chunks, events = make_generation(make_request("[[hang]]"), engine, taken=taken)
    task = generation.start()
    await asyncio.wait_for(engine.generating.wait(), WAIT)
    taken.set_result(False)
    await asyncio.wait_for(task, WAIT)
    assert engine.running == 0
    assert chunks.chunks == []
    assert events.events == []
    assert generation.outcome == "released"


@pytest.mark.parametrize("owned", [True, False])
async def test_a_cancel_while_the_ack_is_on_its_way_reports_only_if_it_lands(
    engine: ScriptedEngine, owned: bool
) -> None:
    taken: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    generation, chunks, events = make_generation(make_request("[[hang]]"), engine, taken=taken)
    task = generation.start()
    await asyncio.wait_for(engine.generating.wait(), WAIT)
    generation.cancel("client_cancelled")
    await asyncio.sleep(0.01)
    assert not task.done()
    assert not taken.cancelled()
    taken.set_result(owned)
    await asyncio.wait_for(task, WAIT)
    assert engine.running == 0
    if owned:
        [error] = chunks.chunks
        assert isinstance(error, StreamError)
        assert error.code == ErrorCode.CANCELLED
        assert error.seq == 0  # nothing went before it
        assert isinstance(events.events[0], RequestCancelled)
    else:
        assert chunks.chunks == []
        assert events.events == []


async def test_shutdown_cancel_reports_shutting_down() -> None:
    engine = ScriptedEngine(tokens_per_s=1000.0)
    generation, chunks, events = make_generation(make_request("[[hang]]"), engine)
    task = generation.start()
    await asyncio.wait_for(engine.generating.wait(), WAIT)
    generation.cancel("shutdown")
    await asyncio.wait_for(task, WAIT)
    error = chunks.chunks[-1]
    assert isinstance(error, StreamError)
    assert error.code == ErrorCode.SHUTTING_DOWN
    [event] = events.events
    assert isinstance(event, RequestCancelled)
    assert event.reason == "shutdown"


async def test_deadline_aborts_a_hanging_engine() -> None:
    engine = ScriptedEngine(tokens_per_s=1000.0)
    generation, chunks, events = make_generation(make_request("[[hang]]", deadline_in=0.2), engine)
    started = time.monotonic()
    await asyncio.wait_for(generation.start(), WAIT)
    assert time.monotonic() - started < 2.0
    assert engine.running == 0
    assert isinstance(chunks.chunks[0], StreamStarted)
    error = chunks.chunks[-1]
    assert isinstance(error, StreamError)
    assert (error.seq, error.code) == (1, ErrorCode.TIMEOUT)
    [event] = events.events
    assert isinstance(event, RequestFailed)
    assert event.code == ErrorCode.TIMEOUT


async def test_already_expired_request_never_reaches_the_engine(engine: ScriptedEngine) -> None:
    generation, chunks, events = make_generation(make_request(deadline_in=-1.0), engine)
    await asyncio.wait_for(generation.start(), WAIT)
    assert engine.prompts == {}
    [error] = chunks.chunks
    assert isinstance(error, StreamError)
    assert (error.seq, error.code) == (0, ErrorCode.TIMEOUT)
    [event] = events.events
    assert isinstance(event, RequestFailed)
    assert event.code == ErrorCode.TIMEOUT


async def test_engine_error_is_reported_not_raised(engine: ScriptedEngine) -> None:
    generation, chunks, events = make_generation(make_request("[[fail]]"), engine)
    await asyncio.wait_for(generation.start(), WAIT)
    error = chunks.chunks[-1]
    assert isinstance(error, StreamError)
    assert error.code == ErrorCode.ENGINE_ERROR
    assert "scripted engine failure" in error.message
    assert error.usage is not None
    assert error.usage.completion_tokens == 1
    [event] = events.events
    assert isinstance(event, RequestFailed)
    assert event.code == ErrorCode.ENGINE_ERROR


async def test_context_overflow_is_reported(engine: ScriptedEngine) -> None:
    generation, chunks, events = make_generation(make_request("a " * 50), engine, max_model_len=20)
    await asyncio.wait_for(generation.start(), WAIT)
    [error] = chunks.chunks
    assert isinstance(error, StreamError)
    assert error.code == ErrorCode.CONTEXT_TOO_LONG
    assert engine.prompts == {}
    [event] = events.events
    assert isinstance(event, RequestFailed)


async def test_broken_chunk_sink_ends_in_a_failed_event(engine: ScriptedEngine) -> None:
    events = ListEventSink()
    generation, _, _ = make_generation(
        make_request(), engine, chunks=BrokenChunkSink(), events=events
    )
    await asyncio.wait_for(generation.start(), WAIT)
    [event] = events.events
    assert isinstance(event, RequestFailed)
    assert engine.running == 0


class _EndsWithoutFinish(ScriptedEngine):
    async def generate(
        self, request_id: str, prompt_token_ids: list[int], params: GenerationParams
    ) -> AsyncGenerator[EngineDelta, None]:
        yield EngineDelta("hi", (7,), None)


async def test_stream_without_finish_reason_still_ends() -> None:
    generation, chunks, events = make_generation(make_request(), _EndsWithoutFinish())
    await asyncio.wait_for(generation.start(), WAIT)
    last = chunks.chunks[-1]
    assert isinstance(last, TokenChunk)
    assert (last.seq, last.finish_reason) == (2, "stop")
    assert last.usage is not None
    assert last.usage.completion_tokens == 1
    assert isinstance(events.events[0], RequestCompleted)


async def test_the_scripted_text_streams_with_its_line_breaks() -> None:
    markdown = "# Title\n\n- one\n- two\n\n```py\nx = 1\n```"
    engine = ScriptedEngine(tokens_per_s=1000.0, text=markdown)
    params = GenerationParams(max_tokens=11)  # its 11 words
    prompt = engine.tokenizer.encode("write some markdown")
    words = [delta.text async for delta in engine.generate("r1", prompt, params)]
    assert "".join(words) == markdown + " "
