"""One request, start to end, without NATS: engine deltas -> chunks + a lifecycle event.

``Generation.run`` is the body of the request's own asyncio task. Cancel is structural:
``Generation.cancel(reason)`` cancels that task; the engine is aborted in a ``finally``
and the stream ends with ``StreamError`` + ``RequestCancelled``. The deadline is an
``asyncio.timeout`` around the engine loop. Nothing here raises into the worker.

A generation may start before its request's ack is confirmed (``taken``): the prompt is
built and the engine runs its prefill during the ack's round trip, and nothing is sent
(no chunk, no event) until the ack is confirmed. An ack that fails leaves the request to
another worker: the engine is aborted and this generation ends without a word.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Protocol

from contracts.errors import ErrorCode
from contracts.events import ChatEvent, RequestCancelled, RequestCompleted, RequestFailed
from contracts.inference import (
    CancelReason,
    ChatRequest,
    Chunk,
    FinishReason,
    StreamError,
    StreamStarted,
    TokenChunk,
    Usage,
)
from inference_worker.engine import Engine, EngineDelta
from inference_worker.prompt import PromptBuilder, PromptError
from inference_worker.timeline import TimelineStamps

log = logging.getLogger(__name__)


class ChunkSink(Protocol):
    async def send(self, chunk: Chunk) -> None: ...


class EventSink(Protocol):
    async def publish(self, event: ChatEvent) -> None: ...


async def _settle(step: asyncio.Future[EngineDelta]) -> None:
    """Let an engine step still running end (cancelled) before its generator is closed:
    an async generator cannot be closed while a step of it runs."""
    if not step.done():
        step.cancel()
        await asyncio.wait([step])
    if not step.cancelled():
        step.exception()  # retrieved: an error here was already reported, or is moot


def _ms(since: float, now: float) -> float:
    return round(max(0.0, now - since) * 1000.0, 3)


class Generation:
    """The generation of one ``ChatRequest``; ``run`` once, as its own task."""

    __slots__ = (
        "_cancel_reason",
        "_chunks",
        "_engine",
        "_events",
        "_model",
        "_prompts",
        "_running",
        "_stamps",
        "_taken",
        "_text",
        "_worker_id",
        "first_token_at",
        "outcome",
        "request",
        "task",
        "usage",
    )

    def __init__(
        self,
        request: ChatRequest,
        *,
        engine: Engine,
        prompts: PromptBuilder,
        chunks: ChunkSink,
        events: EventSink,
        worker_id: str,
        model: str,
        stamps: TimelineStamps | None = None,
        taken: asyncio.Future[bool] | None = None,
    ) -> None:
        self.request = request
        self._taken = taken
        """Resolves True once this worker owns the request (its ack is stored), False if
        the request was left for another worker; None: owned from the start."""
        self._stamps = stamps or TimelineStamps()
        self._engine = engine
        self._prompts = prompts
        self._chunks = chunks
        self._events = events
        self._worker_id = worker_id
        self._model = model
        self._cancel_reason: CancelReason | None = None
        self._running = False
        self._text: list[str] = []
        """The answer so far, for the terminal event (persistence stores it)."""
        self.task: asyncio.Task[None] | None = None
        self.outcome = ""
        """How it ended: a finish reason, or an error / cancel code."""
        self.first_token_at = 0.0
        """``time.time()`` of the first token (0: none); for metrics and traces."""
        self.usage: Usage | None = None
        """The usage it reported at its end (None: ended before the prompt was built)."""

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self.run(), name=f"generation:{self.request.request_id}")
        return self.task

    def cancel(self, reason: CancelReason) -> None:
        """Stop this generation (it reports ``cancelled`` with the usage so far)."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
        # A task cancelled before its first step never enters ``run`` (nothing could
        # report): until it runs, the reason alone is enough, ``run`` checks it first.
        if self._running and self.task is not None and not self.task.done():
            self.task.cancel()

    async def run(self) -> None:
        self._running = True
        try:
            if self._cancel_reason is not None:
                await self._cancelled(self._cancel_reason, 0, None)
                return
            await self._run()
        except asyncio.CancelledError:
            # Cancelled before the engine loop started (or while reporting an end).
            reason = self._cancel_reason
            if reason is None:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            if not self.outcome:
                await self._cancelled(reason, 0, None)

    async def _owned(self) -> bool:
        """Wait for the ack (if still on its way); False: not this worker's request."""
        taken = self._taken
        if taken is None:
            return True
        # Shielded: cancelling this generation must not cancel the ack itself.
        if await asyncio.shield(taken):
            return True
        self.outcome = "released"
        return False

    async def _run(self) -> None:
        request = self.request
        now = time.time()
        if request.deadline <= now:
            await self._fail(
                ErrorCode.TIMEOUT,
                "the deadline passed before a worker took the request",
                seq=0,
                usage=None,
            )
            return
        try:
            prompt = self._prompts.build(request.messages, request.sampling)
        except PromptError as exc:
            await self._fail(exc.code, str(exc), seq=0, usage=None)
            return
        except Exception as exc:
            log.exception("prompt rendering failed request_id=%s", request.request_id)
            await self._fail(
                ErrorCode.INTERNAL, f"prompt rendering failed: {exc!r}", seq=0, usage=None
            )
            return
        stamps = self._stamps
        stamps.prompt_built = time.time_ns()
        prompt_tokens = len(prompt.token_ids)
        seq = 0
        completion_tokens = 0
        first_token_at = 0.0
        finish: FinishReason | None = None
        request_id = request.request_id
        send = self._chunks.send
        # Whether StreamStarted (seq 0) is out: an end before it comes at seq 0 itself.
        opened = False
        deltas = self._engine.generate(request_id, prompt.token_ids, prompt.params)
        next_delta = deltas.__anext__
        stamps.engine_submitted = time.time_ns()
        # The first step runs (prefill) while the ack may still be on its way.
        pending: asyncio.Future[EngineDelta] = asyncio.ensure_future(next_delta())
        try:
            try:
                if not await self._owned():
                    return
                await send(
                    StreamStarted(
                        seq=0,
                        worker_id=self._worker_id,
                        model=self._model,
                        prompt_tokens=prompt_tokens,
                    )
                )
                opened = True
                text_parts = self._text
                async with asyncio.timeout(request.deadline - time.time()):
                    step: Awaitable[EngineDelta] = pending
                    while True:
                        try:
                            text, token_ids, reason = await step
                        except StopAsyncIteration:
                            break
                        seq += 1
                        if text:
                            text_parts.append(text)
                        completion_tokens += len(token_ids)
                        if not first_token_at:
                            first_token_at = self.first_token_at = time.time()
                            stamps.first_output = time.time_ns()
                        if reason is None:
                            await send(TokenChunk(seq=seq, text=text, token_ids=token_ids))
                            if not stamps.first_chunk_sent:
                                stamps.first_chunk_sent = time.time_ns()
                            step = next_delta()
                            continue
                        finish = reason
                        await send(
                            TokenChunk(
                                seq=seq,
                                text=text,
                                token_ids=token_ids,
                                finish_reason=reason,
                                usage=Usage(
                                    prompt_tokens=prompt_tokens,
                                    completion_tokens=completion_tokens,
                                ),
                                timeline=stamps.timeline(),
                            )
                        )
                        break
            finally:
                await _settle(pending)
                await deltas.aclose()
                if finish is None:
                    await self._engine.abort(request_id)
        except TimeoutError:
            await self._fail(
                ErrorCode.TIMEOUT,
                "the request's deadline passed",
                seq=seq + 1 if opened else 0,
                usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            )
            return
        except asyncio.CancelledError:
            cancel_reason = self._cancel_reason
            if cancel_reason is None:  # not ours (the loop is going away): let it propagate
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await self._cancelled(
                cancel_reason,
                seq + 1 if opened else 0,
                Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            )
            return
        except Exception as exc:
            log.exception("generation failed request_id=%s", request_id)
            await self._fail(
                ErrorCode.ENGINE_ERROR,
                f"{type(exc).__name__}: {exc}",
                seq=seq + 1 if opened else 0,
                usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            )
            return
        if finish is None:  # the engine ended without a finish reason
            finish = "stop"
            seq += 1
            await self._send_quietly(
                TokenChunk(
                    seq=seq,
                    text="",
                    finish_reason=finish,
                    usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
                    timeline=stamps.timeline(),
                )
            )
        end = time.time()
        self.outcome = finish
        self.usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        await self._publish_quietly(
            RequestCompleted(
                request_id=request_id,
                user_id=request.user_id,
                model=self._model,
                worker_id=self._worker_id,
                finish_reason=finish,
                usage=self.usage,
                ttft_ms=_ms(request.created_at, first_token_at or end),
                latency_ms=_ms(request.created_at, end),
                at=end,
                conversation_id=request.conversation_id,
                text="".join(self._text),
            )
        )
        log.info(
            "completed request_id=%s finish=%s prompt_tokens=%d completion_tokens=%d ttft_ms=%.1f",
            request_id,
            finish,
            prompt_tokens,
            completion_tokens,
            _ms(request.created_at, first_token_at or end),
        )

    async def skip_cancelled(self, reason: CancelReason) -> None:
        """For a request cancelled before this worker took it: report, never generate."""
        await self._cancelled(reason, 0, None)

    async def _cancelled(self, reason: CancelReason, seq: int, usage: Usage | None) -> None:
        if not await self._owned():
            return
        request = self.request
        self.outcome = "cancelled"
        self.usage = usage
        code = ErrorCode.SHUTTING_DOWN if reason == "shutdown" else ErrorCode.CANCELLED
        await self._send_quietly(
            StreamError(seq=seq, code=code.value, message=f"cancelled: {reason}", usage=usage)
        )
        end = time.time()
        await self._publish_quietly(
            RequestCancelled(
                request_id=request.request_id,
                user_id=request.user_id,
                model=self._model,
                worker_id=self._worker_id,
                reason=reason,
                usage=usage,
                latency_ms=_ms(request.created_at, end),
                at=end,
                conversation_id=request.conversation_id,
                text="".join(self._text),
            )
        )
        log.info("cancelled request_id=%s reason=%s usage=%s", request.request_id, reason, usage)

    async def _fail(self, code: ErrorCode, message: str, *, seq: int, usage: Usage | None) -> None:
        if not await self._owned():
            return
        request = self.request
        self.outcome = code.value
        self.usage = usage
        await self._send_quietly(
            StreamError(seq=seq, code=code.value, message=message, usage=usage)
        )
        end = time.time()
        await self._publish_quietly(
            RequestFailed(
                request_id=request.request_id,
                user_id=request.user_id,
                model=self._model,
                worker_id=self._worker_id,
                code=code.value,
                message=message,
                usage=usage,
                latency_ms=_ms(request.created_at, end),
                at=end,
                conversation_id=request.conversation_id,
                text="".join(self._text),
            )
        )
        log.info("failed request_id=%s code=%s message=%s", request.request_id, code.value, message)

    async def _send_quietly(self, chunk: Chunk) -> None:
        try:
            await self._chunks.send(chunk)
        except Exception:
            log.exception("could not send a chunk request_id=%s", self.request.request_id)

    async def _publish_quietly(self, event: ChatEvent) -> None:
        try:
            await self._events.publish(event)
        except Exception:
            log.exception(
                "could not publish %s request_id=%s", type(event).__name__, self.request.request_id
            )
