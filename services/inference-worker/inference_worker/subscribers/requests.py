"""``on_chat_request``: the worker's share of the model's durable pull consumer.

nats-py directly, not FastStream: FastStream 0.7's concurrent pull subscriber keeps
fetching while every worker slot is busy (the fetched messages wait in memory for a
slot, un-acked), so a busy worker would hold requests that an idle worker could serve
and that JetStream redelivers after ``ack_wait``. Here a slot is taken BEFORE each
``fetch(1)``: the worker never holds more requests than it can run. Each message is
acked synchronously, and its generation starts meanwhile (prompt, prefill) but sends
nothing until the ack is confirmed, so a request is never answered twice and the ack's
round trip is off the first token's path. The ack and the hand-over run in their own task
while the loop already pulls the next request: a burst of requests reaches the engine
together (one prefill batch) instead of one ack round trip apart.

``pullers`` loops pull side by side (each its own subscription on the same durable
consumer, each with one pull outstanding): when several chats arrive at once (a batch
of answers ended together and their clients asked again), that many are fetched in one
round trip instead of one round trip each, so they tend to join the same engine step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry import context as otel_context

from contracts import subjects
from contracts.codec import DecodeErrors, decode_chat_request
from contracts.inference import ChatRequest
from contracts.streams import request_consumer_config
from contracts.tracing import extract_trace_context
from inference_worker.inflight import InFlight
from inference_worker.timeline import TimelineStamps

log = logging.getLogger(__name__)

TakeRequest = Callable[[ChatRequest, TimelineStamps, "asyncio.Future[bool]"], Awaitable[bool]]
"""Starts (True) or settles without generating (False) one fetched request whose ack is
on its way: the future resolves True once the ack is stored (the request is this
worker's), False if it was left for another worker. The stamps hold when it was fetched
and (once known) acked."""


class RequestSubscriber:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        model: str,
        inflight: InFlight,
        take: TakeRequest,
        poll_s: float = 1.0,
        trace_context: bool = False,
        pullers: int = 1,
    ) -> None:
        self._js = js
        self._trace_context = trace_context
        """Take each request inside the trace context its headers carry (tracing on)."""
        self._model = model
        self._inflight = inflight
        self._take = take
        self._poll_s = poll_s
        self._pullers = max(1, pullers)
        self._stopping = False
        self._subs: list[JetStreamContext.PullSubscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._handling: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for index in range(self._pullers):
            sub = await self._js.pull_subscribe(
                subjects.request_subject(self._model),
                durable=subjects.request_consumer(self._model),
                stream=subjects.REQUESTS_STREAM,
                config=request_consumer_config(self._model),
            )
            self._subs.append(sub)
            self._tasks.append(
                asyncio.create_task(self._pull_loop(sub), name=f"pull-requests-{index}")
            )

    async def pause(self) -> None:
        """Stop pulling (a swap drains): what is queued stays in the stream."""
        await self.stop()

    async def resume(self) -> None:
        """Pull again from the same durable consumer (the group's: nothing queued is lost)."""
        if not self._tasks:
            self._stopping = False
            await self.start()

    async def pending(self) -> int | None:
        """Requests waiting in the group's consumer (``num_pending``): the queue depth."""
        info = await self._js.consumer_info(
            subjects.REQUESTS_STREAM, subjects.request_consumer(self._model)
        )
        pending: int | None = info.num_pending
        return pending

    async def stop(self) -> None:
        """Stop taking requests. The pending pull is left to expire (at most ``poll_s``)
        rather than cancelled, so no request is delivered to a subscription nobody reads;
        one that arrives meanwhile is nak'ed back to the other workers."""
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        if tasks:
            loops = asyncio.gather(*tasks, return_exceptions=True)
            try:
                await asyncio.wait_for(asyncio.shield(loops), self._poll_s + 2.0)
            except TimeoutError:
                for task in tasks:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loops
        if self._handling:  # requests being acked / handed over right now
            await asyncio.gather(*self._handling, return_exceptions=True)
        subs, self._subs = self._subs, []
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("request unsubscribe: %r", exc)

    async def _pull_loop(self, sub: JetStreamContext.PullSubscription) -> None:
        fetch = sub.fetch
        while not self._stopping:
            await self._inflight.acquire_slot()
            handed_over = False
            try:
                if self._stopping:
                    break
                try:
                    msgs = await fetch(1, timeout=self._poll_s)
                    fetched = time.time_ns()
                except TimeoutError:
                    continue
                except Exception as exc:  # reconnecting, JetStream restarting...
                    if self._stopping:
                        break
                    log.warning("fetching requests failed: %r", exc)
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:  # fetch(1): one message, one slot
                    task = asyncio.create_task(self._handle(msg, fetched), name="take-request")
                    self._handling.add(task)
                    task.add_done_callback(self._handling.discard)
                    handed_over = True
            finally:
                if not handed_over:
                    self._inflight.release_slot()

    async def _handle(self, msg: Msg, fetched: int) -> None:
        """Owns the slot acquired for ``msg``: keeps it if a generation started."""
        started = False
        try:
            started = await self.on_chat_request(msg, fetched)
        finally:
            if not started:
                self._inflight.release_slot()

    async def _acked_after_all(self, msg: Msg, request_id: str, error: Exception) -> bool:
        """An ack that failed may still have been stored (its answer is what got lost):
        then the message is gone from the work queue and nobody else will ever run the
        request, so this worker must. Still in the stream -> not acked: left for
        redelivery. JetStream not answering either -> left (redelivered if not acked)."""
        try:
            await self._js.get_msg(subjects.REQUESTS_STREAM, msg.metadata.sequence.stream)
        except NotFoundError:
            log.warning(
                "ack of request_id=%s answered %r but it was stored: taking the request",
                request_id,
                error,
            )
            return True
        except Exception as exc:
            log.warning(
                "ack failed, request left for redelivery request_id=%s: %r (%r)",
                request_id,
                error,
                exc,
            )
            return False
        log.warning("ack failed, request left for redelivery request_id=%s: %r", request_id, error)
        return False

    async def on_chat_request(self, msg: Msg, fetched: int = 0) -> bool:
        """Decode, ack (or term / nak), hand over. True if a generation took the slot.
        ``fetched``: when the fetch returned it (``time.time_ns()``; 0: now)."""
        stamps = TimelineStamps(fetched or time.time_ns())
        if self._stopping:
            await msg.nak()
            return False
        try:
            request = decode_chat_request(msg.data)
        except DecodeErrors as exc:
            log.warning("malformed chat request terminated (%s): %s", msg.subject, exc)
            await msg.term()
            return False
        taken = asyncio.ensure_future(self._ack(msg, request.request_id, stamps))
        token = (
            otel_context.attach(extract_trace_context(msg.headers)) if self._trace_context else None
        )
        try:
            if await self._take(request, stamps, taken):
                return True
        except Exception:
            log.exception("could not start request_id=%s", request.request_id)
        finally:
            if token is not None:
                otel_context.detach(token)
        await taken  # not started: the slot is released only once the ack has settled
        return False

    async def _ack(self, msg: Msg, request_id: str, stamps: TimelineStamps) -> bool:
        """True once the ack is stored: the request is this worker's to answer."""
        try:
            await msg.ack_sync(timeout=2.0)
        except Exception as exc:
            if not await self._acked_after_all(msg, request_id, exc):
                return False
        stamps.acked = time.time_ns()
        return True
