"""The real vLLM CPU engine on the prepared Gemma 3 270M, through ``Generation``.

Slow: prepares the model if needed (about a minute, once) and starts the engine
(about 40-50 s on 2 cores).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry

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
from inference_worker.engine import VllmEngine
from inference_worker.generation import Generation
from inference_worker.metrics import EngineStatsCollector
from inference_worker.model_prep import prepare
from inference_worker.prompt import PromptBuilder
from local_stack.ports import free_port
from tests.inference_worker.fakes import ListChunkSink, ListEventSink

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[VllmEngine]:
    from inference_worker.settings import load_settings

    settings = load_settings(
        {**os.environ, "WORKER_MAX_MODEL_LEN": "1024", "WORKER_MAX_NUM_SEQS": "4"}
    )
    # Engine statistics on, as in a worker that serves metrics (WORKER_METRICS_PORT): the
    # endpoint itself is not started here, only vLLM's stat logger.
    settings = msgspec.structs.replace(settings, metrics_port=free_port())
    assert settings.engine_stats
    await asyncio.to_thread(prepare, settings.model_path)
    vllm = VllmEngine(settings)
    started = time.monotonic()
    await asyncio.wait_for(vllm.start(), 300)
    print(f"vLLM engine start: {time.monotonic() - started:.1f} s")
    yield vllm
    await asyncio.wait_for(vllm.shutdown(), 60)


def _generation(
    engine: VllmEngine, content: str, max_tokens: int, request_id: str
) -> tuple[Generation, ListChunkSink, ListEventSink]:
    now = time.time()
    request = ChatRequest(
        request_id=request_id,
        user_id="u",
        model="gemma3-270m",
        messages=(ChatMessage(role="user", content=content),),
        sampling=SamplingParams(max_tokens=max_tokens, temperature=0.0),
        deadline=now + 120,
        created_at=now,
    )
    prompts = PromptBuilder(
        engine.tokenizer, fallback_template="gemma", max_model_len=1024, default_max_tokens=16
    )
    chunks, events = ListChunkSink(), ListEventSink()
    generation = Generation(
        request,
        engine=engine,
        prompts=prompts,
        chunks=chunks,
        events=events,
        worker_id="w-slow",
        model="gemma3-270m",
    )
    return generation, chunks, events


async def test_generates_tokens(engine: VllmEngine) -> None:
    assert engine.tokenizer.chat_template is None  # the fallback template is in use
    generation, chunks, events = _generation(engine, "What is the capital of France?", 32, "slow-1")
    started = time.monotonic()
    await asyncio.wait_for(generation.start(), 120)
    elapsed = time.monotonic() - started

    first, *tokens = chunks.chunks
    assert isinstance(first, StreamStarted)
    assert first.prompt_tokens > 5
    assert tokens
    assert all(isinstance(c, TokenChunk) for c in tokens)
    last = tokens[-1]
    assert isinstance(last, TokenChunk)
    assert last.finish_reason in ("stop", "length")
    assert last.usage is not None
    ids = [i for c in tokens if isinstance(c, TokenChunk) for i in c.token_ids]
    assert last.usage.completion_tokens == len(ids) > 0
    assert last.usage.prompt_tokens == first.prompt_tokens
    [event] = events.events
    assert isinstance(event, RequestCompleted)
    print(
        f"one stream: {len(ids)} tokens in {elapsed:.2f} s = {len(ids) / elapsed:.1f} tok/s, "
        f"ttft {event.ttft_ms:.0f} ms"
    )


async def test_cancel_aborts_the_engine(engine: VllmEngine) -> None:
    generation, chunks, events = _generation(
        engine, "Count from one to five hundred.", 900, "slow-2"
    )
    task = generation.start()
    await asyncio.wait_for(chunks.first_token.wait(), 60)
    generation.cancel("client_cancelled")
    await asyncio.wait_for(task, 30)

    assert engine.running == 0
    error = chunks.chunks[-1]
    assert isinstance(error, StreamError)
    assert error.code == ErrorCode.CANCELLED
    assert error.usage is not None
    assert 0 < error.usage.completion_tokens < 900
    [event] = events.events
    assert isinstance(event, RequestCancelled)


async def test_engine_statistics(engine: VllmEngine) -> None:
    """vLLM's own Prometheus families, as the worker's metrics endpoint serves them."""
    generation, _, events = _generation(engine, "Name a colour.", 8, "slow-3")
    await asyncio.wait_for(generation.start(), 120)
    assert isinstance(events.events[0], RequestCompleted)
    registry = CollectorRegistry()
    registry.register(EngineStatsCollector())
    families = {family.name for family in registry.collect()}
    assert {
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
    } <= families
    assert all(name.startswith("vllm:") for name in families)
    labels = {"model_name": "gemma3-270m", "engine": "0"}
    generated = registry.get_sample_value("vllm:generation_tokens_total", labels)
    assert generated is not None
    assert generated > 0


def _engine_core_pids() -> list[int]:
    """vLLM's engine core: a child of this process titled ``VLLM::EngineCore``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            title = (proc / "cmdline").read_bytes()
        except OSError:  # exited meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"EngineCore" in title:
            found.append(int(proc.name))
    return found


async def test_killed_engine_core_fails_the_stream_and_reports_failure(
    engine: VllmEngine,
) -> None:
    """Keep this last: it kills the module's engine (the OOM killer's way)."""
    generation, chunks, events = _generation(engine, "Write a very long story.", 900, "slow-4")
    task = generation.start()
    await asyncio.wait_for(chunks.first_token.wait(), 60)
    assert engine.failure is None
    [core] = _engine_core_pids()
    os.kill(core, signal.SIGKILL)
    # The stream ends with an error, it does not hang; the engine says it is dead.
    await asyncio.wait_for(task, 30)
    error = chunks.chunks[-1]
    assert isinstance(error, StreamError)
    assert error.code == ErrorCode.ENGINE_ERROR
    [event] = events.events
    assert isinstance(event, RequestFailed)
    # vLLM's own monitor thread notices the exit; the worker polls ``failure`` the same way.
    for _ in range(100):  # 10 s
        if engine.failure is not None:
            break
        await asyncio.sleep(0.1)
    assert engine.failure is not None
    assert "engine core died" in engine.failure
    # A new generation fails at once instead of waiting on a core that is gone.
    late, late_chunks, _ = _generation(engine, "Hello?", 8, "slow-5")
    await asyncio.wait_for(late.start(), 10)
    late_error = late_chunks.chunks[-1]
    assert isinstance(late_error, StreamError)
    assert late_error.code == ErrorCode.ENGINE_ERROR
