"""One request's chunks -> an async iterator of tokens ending in done or a failure.

The relay never hangs: the deadline, the owning worker's heartbeats, the cancel route and
a shutdown each push a signal (``chat_api.bus.signals``) onto the feed, so the loop only
ever awaits one queue. On any exit it closes the feed; if the stream did not end on its
own it publishes a ``CancelRequest`` (client_disconnected unless another reason applies)
so the engine stops.

Chunks lost on the wire (core NATS is at most once: a reconnect of the api's connection)
are re-read from the capture stream (``Gateway.replay``): on a seq gap, the missing range
before the chunk that revealed it; on a ``Resync`` signal (after a reconnect), everything
after the last chunk relayed, which also ends a stream whose final chunk was lost. A gap
the capture cannot fill ends the stream with ``stream_interrupted`` and cancels the
generation: never a ``done`` over a corrupted answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, TypeGuard, assert_never, overload

import msgspec

from chat_api.bus.feeds import Feed, FeedItem
from chat_api.bus.signals import (
    Cancelled,
    Deadline,
    KeepaliveTick,
    Resync,
    Shutdown,
    Signal,
    WorkerLost,
)
from chat_api.gateway import Gateway
from chat_api.queue_positions import QueueUpdate
from chat_api.telemetry.timeline import ApiStamps, first_token_stages
from contracts import subjects
from contracts.errors import ErrorCode
from contracts.events import RequestFailed
from contracts.inference import (
    CancelReason,
    ChatRequest,
    Chunk,
    FinishReason,
    StreamError,
    StreamStarted,
    TokenChunk,
    Usage,
    WorkerTimeline,
)

if TYPE_CHECKING:
    from chat_api.telemetry import StreamObserver

log = logging.getLogger("chat_api.relay")

ABANDON_GRACE_S = 10.0
"""A relay nobody iterates is closed this long after its deadline."""

KEEPALIVE_S = 15.0
"""An SSE stream with nothing to say for this long (queued behind other chats, a model
swap, a long prefill) gets a comment line, so proxies and clients with idle timeouts do
not cut it."""

_FINISH_FAILURES: dict[str, tuple[ErrorCode, str]] = {
    "timeout": (ErrorCode.TIMEOUT, "the request passed its deadline"),
    "cancelled": (ErrorCode.CANCELLED, "the request was cancelled"),
    "error": (ErrorCode.ENGINE_ERROR, "the engine failed"),
}


class StreamFailure(msgspec.Struct, frozen=True, kw_only=True):
    """Terminal failure the client sees as an ``error`` event / error body."""

    code: str
    message: str


class KeepAlive(msgspec.Struct, frozen=True):
    """Nothing arrived for ``KEEPALIVE_S``: SSE writers send a comment line."""


RelayItem = TokenChunk | StreamFailure
SseItem = RelayItem | KeepAlive | QueueUpdate
"""What SSE writers read: also keepalives and the queue updates of a waiting request."""

WATCH_FRESH_S = 2 * subjects.RELAY_WATCH_INTERVAL_S + 1.0
"""A ``RelayWatch`` this recent means a client is still attached somewhere."""


class Relay:
    """Relays one request. Iterate ``events()`` once (a detached relay drains itself).

    The *owner* relay is the one of the api instance that accepted the request: it alone
    cancels the generation and reports failures it detects. With ``detach_grace_s`` > 0 a
    consumer that goes away (the client disconnected) does not cancel it: the relay keeps
    reading its chunks in a task of its own (so it still ends, settles limits and names
    the conversation) and cancels only when ``detach_grace_s`` passed with no
    ``RelayWatch`` heard. A *follower* (``owner=False``) relays a request for a client
    that re-attached: it starts after ``start_seq`` with the ``backlog`` read from the
    capture, says ``RelayWatch`` while it runs, and never cancels or reports anything.
    """

    def __init__(
        self,
        gateway: Gateway,
        request: ChatRequest,
        feed: Feed,
        on_close: Callable[[Relay], None] | None = None,
        observer: StreamObserver | None = None,
        *,
        detach_grace_s: float = 0.0,
        owner: bool = True,
        start_seq: int = -1,
        backlog: list[Chunk] | None = None,
        stamps: ApiStamps | None = None,
        expose_timeline: bool = False,
    ) -> None:
        self.gateway = gateway
        self.request = request
        self.feed = feed
        self.owner = owner
        self._detach_grace_s = detach_grace_s
        self._last_seq = start_seq
        """The seq of the last chunk relayed (-1: none yet)."""
        self._seq_at_tick = start_seq
        """``_last_seq`` at the last keepalive tick."""
        self._backlog: list[FeedItem] = list(reversed(backlog or ()))
        """Replayed chunks to relay before the queue, next last."""
        self._ended = False
        """The stream reached its end: the consumer has its last item."""
        self.detached = False
        self.watched_at = -WATCH_FRESH_S
        """When a ``RelayWatch`` for this request was last heard (monotonic)."""
        self._grace_timer: asyncio.TimerHandle | None = None
        self._watch_timer: asyncio.TimerHandle | None = None
        self._drain: asyncio.Task[None] | None = None
        self.worker_id: str | None = None
        self.started_at = time.monotonic()
        self.first_token_at: float | None = None
        self._on_close = on_close
        self._observer = observer
        self._unwatch: Callable[[], None] | None = None
        self._terminal = False
        self._cancel_reason: CancelReason | None = None
        self._closed = False
        self.on_done: Callable[[], None] | None = None
        """Called once when the stream ends normally (``stop`` / ``length``)."""
        self.outcome: str | None = None
        """How the stream ended: a finish reason or the error code (None: not yet / cut off)."""
        self.usage: Usage | None = None
        self.chunks_relayed = 0
        """Token chunks received when the relay ended (limits settle on it without usage)."""
        self.stamps = stamps
        """The api's stamps of the chat up to its first token (None: not the owner's
        relay); the SSE writer stamps ``first_token_written``."""
        self.expose_timeline = expose_timeline
        """Tell the client the first token's stages with the stream's end."""
        self._worker_timeline: WorkerTimeline | None = None
        loop = asyncio.get_running_loop()
        delay = max(0.0, request.deadline - time.time())
        self._deadline_timer = loop.call_later(delay, feed.push, Deadline())
        self._abandon_timer = loop.call_later(delay + ABANDON_GRACE_S, self._abandon)
        self._keepalive_timer: asyncio.TimerHandle | None = None
        if not owner:
            self._say_watching()

    @property
    def request_id(self) -> str:
        return self.request.request_id

    # --- signals from outside ---------------------------------------------------
    def cancel(self, reason: CancelReason = "client_cancelled") -> None:
        self.feed.push(Cancelled(reason))

    def shutdown(self) -> None:
        self.feed.push(Shutdown())

    def _on_worker_lost(self, worker_id: str, why: str) -> None:
        self.feed.push(WorkerLost(f"worker {worker_id} lost: {why}"))

    def watched(self) -> None:
        """A ``RelayWatch`` for this request was heard."""
        self.watched_at = time.monotonic()

    # --- detached and followed streams ----------------------------------------------
    def _may_detach(self) -> bool:
        return (
            self.owner
            and self._detach_grace_s > 0
            and not self.detached
            and not self._terminal
            and not self._closed
            and self._cancel_reason is None
        )

    def _detach(self) -> None:
        """The client went away: keep the generation for ``detach_grace_s``."""
        log.info(
            "request %s: client gone after seq %d; detached for %.0f s",
            self.request_id,
            self._last_seq,
            self._detach_grace_s,
        )
        self.detached = True
        # A chunk taken off the queue when the client went (mid-replay, say) would be
        # lost to the drain: it first re-reads everything after the last one relayed.
        self.feed.put(Resync())
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
        loop = asyncio.get_running_loop()
        self._grace_timer = loop.call_later(self._detach_grace_s, self._grace_over)
        self._drain = loop.create_task(self._drain_detached(), name=f"detached-{self.request_id}")

    async def _drain_detached(self) -> None:
        async for _ in self._items(None):
            pass

    def _grace_over(self) -> None:
        if self._closed:
            return
        if time.monotonic() - self.watched_at < WATCH_FRESH_S:
            self._grace_timer = asyncio.get_running_loop().call_later(
                subjects.RELAY_WATCH_INTERVAL_S, self._grace_over
            )
            return
        log.info("request %s: nobody re-attached; cancelling", self.request_id)
        self.cancel("client_disconnected")

    def _say_watching(self) -> None:
        if self._closed:
            return
        self.gateway.watch(self.request_id)
        self._watch_timer = asyncio.get_running_loop().call_later(
            subjects.RELAY_WATCH_INTERVAL_S, self._say_watching
        )

    # --- the stream ---------------------------------------------------------------
    def _tick(self, keepalive_s: float) -> None:
        if not self._closed:
            self.feed.push(KeepaliveTick())
            self._keepalive_timer = asyncio.get_running_loop().call_later(
                keepalive_s, self._tick, keepalive_s
            )

    @overload
    def events(self) -> AsyncGenerator[RelayItem, None]: ...

    @overload
    def events(self, keepalive_s: float) -> AsyncGenerator[SseItem, None]: ...

    def events(self, keepalive_s: float | None = None) -> AsyncGenerator[SseItem, None]:
        """The stream. With ``keepalive_s`` (SSE writers), a ``KeepAlive`` item after each
        such period in which nothing arrived, and the ``QueueUpdate``s of a request still
        waiting for a worker (other readers get neither)."""
        return self._items(keepalive_s)

    async def _items(self, keepalive_s: float | None) -> AsyncGenerator[SseItem, None]:
        self._begin(keepalive_s)
        consumer_gone = False
        try:
            while not self._ended:
                item = await self._next_item()
                if self._is_next_token(item):
                    # once per token: straight through, no generator in between
                    self._take(item)
                    yield item
                    continue
                async for out in self._handle(item, with_updates=keepalive_s is not None):
                    yield out
        except (GeneratorExit, asyncio.CancelledError):
            consumer_gone = True
            raise
        finally:
            self._finish(consumer_gone)

    def _begin(self, keepalive_s: float | None) -> None:
        self._ended = False
        self._seq_at_tick = self._last_seq
        if keepalive_s is not None:
            self._keepalive_timer = asyncio.get_running_loop().call_later(
                keepalive_s, self._tick, keepalive_s
            )

    def _is_next_token(self, item: FeedItem) -> TypeGuard[TokenChunk]:
        """The answer's next token, not its last: the common case."""
        return (
            type(item) is TokenChunk
            and item.seq == self._last_seq + 1
            and item.finish_reason is None
        )

    def _take(self, chunk: TokenChunk) -> None:
        self._last_seq = chunk.seq
        self._note_first_token()

    async def _next_item(self) -> FeedItem:
        """Replayed chunks first (they come before whatever is queued), then the feed."""
        return self._backlog.pop() if self._backlog else await self.feed.get()

    async def _handle(self, item: FeedItem, with_updates: bool) -> AsyncGenerator[SseItem, None]:
        """What the consumer sees of one feed item (often nothing)."""
        match item:
            case TokenChunk():
                async for out in self._on_token(item):
                    yield out
            case StreamStarted():
                self._last_seq = max(self._last_seq, item.seq)
                self._own(item.worker_id)
            case StreamError():
                failure = await self._on_stream_error(item)
                if failure is not None:
                    yield failure
            case QueueUpdate():
                if with_updates and self.worker_id is None:
                    yield item
            case _:
                said = await self._on_signal(item)
                if said is not None:
                    yield said

    def _finish(self, consumer_gone: bool) -> None:
        """The iteration is over: detach if the consumer went away from a stream that may
        go on without it, else close."""
        self.chunks_relayed = max(0, self._last_seq)
        if consumer_gone and self._may_detach():
            self._detach()
        else:
            self.close()

    # --- chunks ----------------------------------------------------------------------
    async def _on_token(self, chunk: TokenChunk) -> AsyncGenerator[RelayItem, None]:
        if chunk.seq != self._last_seq + 1:
            if chunk.seq <= self._last_seq:
                return  # duplicate / late
            if not await self._on_gap(chunk):
                yield self._end(
                    StreamFailure(
                        code=ErrorCode.STREAM_INTERRUPTED,
                        message="part of the answer was lost in transit; retry",
                    )
                )  # not terminal: close() cancels the generation
            return
        self._take(chunk)
        if chunk.finish_reason is None:
            yield chunk
            return
        async for out in self._on_final(chunk, chunk.finish_reason):
            yield out

    def _note_first_token(self) -> None:
        if self.first_token_at is None:
            if self.stamps is not None:
                self.stamps.first_chunk_received = time.time_ns()
            self.first_token_at = time.monotonic()
            if self._observer is not None:
                self._observer.first_token(self.first_token_at)

    async def _on_final(
        self, chunk: TokenChunk, reason: FinishReason
    ) -> AsyncGenerator[RelayItem, None]:
        self._terminal = self._ended = True
        self._worker_timeline = chunk.timeline
        if reason in ("stop", "length"):
            self._observe_end(reason, chunk.usage)
            self._run_on_done()
            yield chunk
            return
        if chunk.text:
            yield TokenChunk(seq=chunk.seq, text=chunk.text, token_ids=chunk.token_ids)
        code, message = _FINISH_FAILURES[reason]
        self._observe_end(code, chunk.usage)
        yield StreamFailure(code=code, message=message)

    async def _on_stream_error(self, error: StreamError) -> StreamFailure | None:
        # Tokens lost before the error are still the client's; if they cannot be
        # replayed the stream ends with the worker's error all the same.
        if error.seq > self._last_seq + 1 and await self._on_gap(error):
            return None
        self._terminal = True
        return self._end(StreamFailure(code=error.code, message=error.message), error.usage)

    async def _on_gap(self, chunk: Chunk) -> bool:
        """Chunks before ``chunk`` were lost: True if replayed (they, then ``chunk``, come
        next), False if the capture lacks some."""
        if not await self._fill_gap(chunk):
            return False
        self._last_seq = max(self._last_seq, 0)  # no StreamStarted is no gap
        return True

    async def _fill_gap(self, chunk: Chunk) -> bool:
        """Chunks ``_last_seq`` + 1 .. ``chunk.seq`` - 1 were lost: replay them from the
        capture stream and put them, then ``chunk``, on the backlog. False if the capture
        lacks a token of them (a lost ``StreamStarted`` carries no text: relayed if found,
        never missed)."""
        last_seq = self._last_seq
        missing = await self.gateway.replay(self.request_id, last_seq, chunk.seq)
        if [c.seq for c in missing if c.seq] != list(range(max(last_seq + 1, 1), chunk.seq)):
            log.warning(
                "request %s: chunks %d..%d lost and not in the capture stream",
                self.request_id,
                last_seq + 1,
                chunk.seq - 1,
            )
            return False
        if missing:
            log.info(
                "request %s: chunks %d..%d lost in transit, replayed",
                self.request_id,
                last_seq + 1,
                chunk.seq - 1,
            )
        self._backlog.append(chunk)
        self._backlog.extend(reversed(missing))
        return True

    # --- signals ---------------------------------------------------------------------
    async def _on_signal(self, signal: Signal) -> StreamFailure | KeepAlive | None:
        match signal:
            case KeepaliveTick():
                return self._keepalive()
            case Resync():
                await self._resync()
                return None
            case Deadline():
                return self._end(self._deadline_passed())
            case WorkerLost(detail=detail):
                self._terminal = True  # nobody left to cancel
                self._report_failed(ErrorCode.WORKER_LOST, detail)
                return self._end(StreamFailure(code=ErrorCode.WORKER_LOST, message=detail))
            case Cancelled(reason=reason):
                self._cancel_reason = reason
                return self._end(
                    StreamFailure(code=ErrorCode.CANCELLED, message="cancelled by the client")
                )
            case Shutdown():
                self._cancel_reason = "shutdown"
                return self._end(
                    StreamFailure(
                        code=ErrorCode.SHUTTING_DOWN, message="the api is shutting down; retry"
                    )
                )
            case _:
                assert_never(signal)

    def _keepalive(self) -> KeepAlive | None:
        """A ``KeepAlive`` if nothing was relayed since the last tick."""
        quiet = self._last_seq == self._seq_at_tick
        self._seq_at_tick = self._last_seq
        return KeepAlive() if quiet else None

    async def _resync(self) -> None:
        """The connection came back (or the client went): re-read what came after the
        last chunk relayed; it goes through the seq checks like live chunks."""
        missed = await self.gateway.replay(self.request_id, self._last_seq)
        if missed:
            log.info(
                "request %s: %d chunks after seq %d replayed after a reconnect",
                self.request_id,
                len(missed),
                self._last_seq,
            )
        self._backlog.extend(reversed(missed))

    def _deadline_passed(self) -> StreamFailure:
        self._cancel_reason = "timeout"
        if self.worker_id is None:
            self._report_failed(ErrorCode.TIMEOUT, "no worker took the request in time")
        return StreamFailure(code=ErrorCode.TIMEOUT, message="the request passed its deadline")

    def _end(self, failure: StreamFailure, usage: Usage | None = None) -> StreamFailure:
        """The stream ends with ``failure``, the consumer's last item."""
        self._ended = True
        self._observe_end(failure.code, usage)
        return failure

    def end_timeline(self) -> dict[str, float] | None:
        """Observe the first token's stages (``telemetry.timeline``) in the metrics, and
        return them in milliseconds when the client is to be told (``expose_timeline``).
        Call once, as the stream ends; nothing without the api's stamps."""
        if self.stamps is None:
            return None
        stages = first_token_stages(self.stamps, self._worker_timeline)
        if self._observer is not None:
            self._observer.first_token_stages(stages)
        return stages if self.expose_timeline else None

    def _observe_end(self, outcome: str, usage: Usage | None) -> None:
        self.outcome, self.usage = outcome, usage
        if self._observer is not None:
            self._observer.ended(outcome, usage)

    def _run_on_done(self) -> None:
        try:
            if self.on_done is not None:
                self.on_done()
        except Exception:
            log.exception("request %s: on_done hook failed", self.request_id)

    def _own(self, worker_id: str) -> None:
        if self.worker_id is not None:
            return
        self.worker_id = worker_id
        self._unwatch = self.gateway.workers.watch(worker_id, self._on_worker_lost)

    def _report_failed(self, code: ErrorCode, message: str) -> None:
        if not self.owner:
            return
        self.gateway.report_failed(
            RequestFailed(
                request_id=self.request_id,
                user_id=self.request.user_id,
                model=self.request.model,
                worker_id=self.worker_id,
                code=code,
                message=message,
                latency_ms=(time.monotonic() - self.started_at) * 1000.0,
                at=time.time(),
            )
        )

    def close(self) -> None:
        """Release everything; publish a cancel unless the stream ended on its own."""
        if self._closed:
            return
        self._closed = True
        self._deadline_timer.cancel()
        self._abandon_timer.cancel()
        for timer in (self._keepalive_timer, self._grace_timer, self._watch_timer):
            if timer is not None:
                timer.cancel()
        if self._unwatch is not None:
            self._unwatch()
        if self.owner:
            if not self._terminal:  # before the feed closes: the gateway withdraws it if queued
                self.gateway.cancel(self.request_id, self._cancel_reason or "client_disconnected")
            self.gateway.chat_ended(self.request)
        self.feed.close()
        if self._observer is not None:
            self._observer.closed()
        if self._on_close is not None:
            self._on_close(self)

    def _abandon(self) -> None:
        if not self._closed:
            log.warning("request %s: relay never consumed; closing", self.request_id)
            self._cancel_reason = self._cancel_reason or "timeout"
            self.close()


class StreamTable:
    """The relays open in this process: for the cancel route and for shutdown."""

    def __init__(self) -> None:
        self._relays: dict[str, Relay] = {}
        """Owner relays by request id (detached ones included)."""
        self._followers: set[Relay] = set()
        self.accepting = True
        self.closing = asyncio.Event()
        """Set by ``begin_shutdown``: other long responses (admin SSE) end on it too."""
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, relay: Relay) -> None:
        if relay.owner:
            self._relays[relay.request_id] = relay
        else:
            self._followers.add(relay)
        self._empty.clear()

    def remove(self, relay: Relay) -> None:
        if self._relays.get(relay.request_id) is relay:
            del self._relays[relay.request_id]
        self._followers.discard(relay)
        if not self._relays and not self._followers:
            self._empty.set()

    def watched(self, request_id: str) -> None:
        """A client follows ``request_id`` (any instance): keep it if detached here."""
        relay = self._relays.get(request_id)
        if relay is not None:
            relay.watched()

    def get(self, request_id: str) -> Relay | None:
        return self._relays.get(request_id)

    def __len__(self) -> int:
        return len(self._relays)

    def begin_shutdown(self) -> None:
        """Refuse new requests; every open stream ends with a ``shutting_down`` error."""
        self.accepting = False
        self.closing.set()
        for relay in [*self._relays.values(), *self._followers]:
            relay.shutdown()

    async def wait_empty(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._empty.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
