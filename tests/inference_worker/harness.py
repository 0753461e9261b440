"""Run the real worker app against the test nats-server and talk to it like the api does."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from contracts import subjects
from contracts.codec import decode_chunk, decode_event, decode_worker_status, encode
from contracts.events import ChatEvent
from contracts.inference import (
    CancelReason,
    CancelRequest,
    ChatMessage,
    ChatRequest,
    Chunk,
    SamplingParams,
    StreamError,
    TokenChunk,
)
from contracts.workers import WorkerState, WorkerStatus
from inference_worker.app import run
from inference_worker.engine import Engine, build_engine
from inference_worker.settings import WorkerSettings, load_settings
from inference_worker.tracing import WorkerTracing

WAIT = 10.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def worker_env(nats_url: str, model: str, **extra: str) -> dict[str, str]:
    return {
        "NATS_URL": nats_url,
        "WORKER_MODEL": model,
        "WORKER_ENGINE": "scripted",
        "WORKER_ID": unique("w"),
        "WORKER_HEARTBEAT_S": "0.2",
        "WORKER_DRAIN_TIMEOUT_S": "5",
        "WORKER_SCRIPTED_TOKENS_PER_S": "500",
        **extra,
    }


class Heartbeats:
    """Every WorkerStatus of one worker, with a way to await a state."""

    def __init__(self) -> None:
        self.seen: list[WorkerStatus] = []
        self._changed = asyncio.Condition()

    async def on_msg(self, msg: Msg) -> None:
        status = decode_worker_status(msg.data)
        async with self._changed:
            self.seen.append(status)
            self._changed.notify_all()

    async def wait_for(self, state: WorkerState, within: float = WAIT) -> WorkerStatus:
        """The latest status in ``state`` (seen already or the next one)."""
        async with asyncio.timeout(within), self._changed:
            while True:
                for status in reversed(self.seen):
                    if status.state == state:
                        return status
                await self._changed.wait()

    async def wait_until(
        self, predicate: Callable[[WorkerStatus], bool], within: float = WAIT
    ) -> WorkerStatus:
        """The next (or latest) status for which ``predicate`` holds."""
        async with asyncio.timeout(within), self._changed:
            while not self.seen or not predicate(self.seen[-1]):
                await self._changed.wait()
            return self.seen[-1]

    def states(self) -> list[WorkerState]:
        out: list[WorkerState] = []
        for status in self.seen:
            if not out or out[-1] != status.state:
                out.append(status.state)
        return out


@dataclass
class RunningWorker:
    settings: WorkerSettings
    stop: asyncio.Event
    task: asyncio.Task[int]
    heartbeats: Heartbeats
    engine: Engine

    async def stopped(self, within: float = WAIT) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, within)


@asynccontextmanager
async def running_worker(
    nc: NatsClient,
    env: dict[str, str],
    *,
    wait_state: WorkerState = "ready",
    engine: Engine | None = None,
    tracing: WorkerTracing | None = None,
    engine_factory: Callable[[WorkerSettings], Engine] | None = None,
    within: float = WAIT,
) -> AsyncIterator[RunningWorker]:
    """``run`` in this event loop; ``engine`` (default: the one ``env`` names) is handed in
    so a test can look at it, ``tracing`` so a test can read the spans."""
    settings = load_settings(env)
    engine = engine or build_engine(settings)
    heartbeats = Heartbeats()
    sub = await nc.subscribe(subjects.heartbeat_subject(settings.worker_id), cb=heartbeats.on_msg)
    await nc.flush()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(
            settings,
            stop=stop,
            engine=engine,
            tracing=tracing,
            engine_factory=engine_factory or build_engine,
        )
    )
    worker = RunningWorker(settings, stop, task, heartbeats, engine)
    try:
        waiter = asyncio.create_task(heartbeats.wait_for(wait_state, within))
        await asyncio.wait({waiter, task}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
            if task.done():
                task.result()
            raise TimeoutError(f"worker never reached {wait_state}: {heartbeats.states()}")
        yield worker
    finally:
        if not task.done():
            await worker.stopped(max(WAIT, within))
        await sub.unsubscribe()


@dataclass
class Stream:
    """What one request produced: chunks on its subject, events with its id."""

    request: ChatRequest
    published_at: float = 0.0
    chunks: list[Chunk] = field(default_factory=list)
    chunk_times: list[float] = field(default_factory=list)
    events: list[ChatEvent] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    has_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_chunk(self, msg: Msg) -> None:
        chunk = decode_chunk(msg.data)
        self.chunks.append(chunk)
        self.chunk_times.append(time.perf_counter())
        self.started.set()
        if isinstance(chunk, StreamError) or (
            isinstance(chunk, TokenChunk) and chunk.finish_reason is not None
        ):
            self.ended.set()

    async def wait(self, within: float = WAIT) -> Stream:
        async with asyncio.timeout(within):
            await self.ended.wait()
            await self.has_event.wait()
        return self


class Client:
    """Plays the api: publishes requests / cancels, collects chunks and events."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.streams: dict[str, Stream] = {}

    async def start(self) -> None:
        await self.nc.subscribe(subjects.EVENT_SUBJECTS, cb=self._on_event)

    async def _on_event(self, msg: Msg) -> None:
        event = decode_event(msg.data)
        stream = self.streams.get(event.request_id)
        if stream is not None:
            stream.events.append(event)
            stream.has_event.set()

    async def send(
        self,
        model: str,
        content: str = "hello",
        *,
        deadline_in: float = 30.0,
        max_tokens: int | None = None,
        request_id: str | None = None,
    ) -> Stream:
        now = time.time()
        request = ChatRequest(
            request_id=request_id or unique("req"),
            user_id="u1",
            model=model,
            messages=(ChatMessage(role="user", content=content),),
            sampling=SamplingParams(max_tokens=max_tokens),
            deadline=now + deadline_in,
            created_at=now,
        )
        stream = self.streams[request.request_id] = Stream(request)
        await self.nc.subscribe(
            subjects.chunk_subject(request.relay, request.request_id), cb=stream.on_chunk
        )
        await self.nc.flush()
        stream.published_at = time.perf_counter()
        await self.js.publish(
            subjects.request_subject(model),
            encode(request),
            headers={subjects.MSG_ID_HEADER: request.request_id},
        )
        return stream

    async def cancel(self, request_id: str, reason: CancelReason = "client_cancelled") -> None:
        await self.nc.publish(
            subjects.cancel_subject(request_id),
            encode(CancelRequest(request_id=request_id, reason=reason)),
        )
        await self.nc.flush()
