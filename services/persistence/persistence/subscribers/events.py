"""``on_event``: the durable pull consumer ``PERSISTENCE_EVENTS_CONSUMER`` of
``CHAT_EVENTS`` that stores conversation messages.

Explicit ack, after the message is stored (or found already stored). A malformed payload
is ``term()``-ed. While the database is unreachable the message in hand is retried here
with a growing back-off (up to ``retry_max_s``), ``in_progress()`` telling JetStream to
keep waiting, and nothing behind it is fetched: events are never acknowledged unstored
and stay in order. On stop, a message still unstored is ``nak()``-ed for redelivery.
The consumer never gives up on a message (``max_deliver`` unlimited).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry.trace import SpanKind

from contracts import subjects
from contracts.codec import DecodeErrors, decode_event
from nats_service.database import UNAVAILABLE_ERRORS
from nats_service.tracing import message_span
from persistence.messages import MessageRecorder, Outcome
from persistence.metrics import PersistenceMetrics
from persistence.tracing import PersistenceTracing

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.1


def events_consumer_config(ack_wait_s: float = 30.0) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=subjects.PERSISTENCE_EVENTS_CONSUMER,
        filter_subject=subjects.EVENT_SUBJECTS,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait_s,
        max_deliver=-1,
        max_ack_pending=10_000,
    )


class EventSubscriber:
    def __init__(
        self,
        js: JetStreamContext,
        recorder: MessageRecorder,
        *,
        batch: int = 64,
        poll_s: float = 1.0,
        ack_wait_s: float = 30.0,
        retry_max_s: float = 10.0,
        metrics: PersistenceMetrics | None = None,
        tracing: PersistenceTracing | None = None,
    ) -> None:
        self._js = js
        self._metrics = metrics
        self._tracing = tracing
        self._recorder = recorder
        self._batch = batch
        self._poll_s = poll_s
        self._ack_wait_s = ack_wait_s
        self._retry_max_s = retry_max_s
        self._stopping = asyncio.Event()
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self.stored = 0
        """Messages stored since start (a metric for logs and tests)."""

    async def start(self) -> None:
        self._sub = await self._js.pull_subscribe(
            subjects.EVENT_SUBJECTS,
            durable=subjects.PERSISTENCE_EVENTS_CONSUMER,
            stream=subjects.EVENTS_STREAM,
            config=events_consumer_config(self._ack_wait_s),
        )
        self._task = asyncio.create_task(self._pull_loop(), name="pull-events")

    async def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._poll_s + timeout_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._sub is not None:
            sub, self._sub = self._sub, None
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("events unsubscribe: %r", exc)

    async def _pull_loop(self) -> None:
        assert self._sub is not None
        while not self._stopping.is_set():
            try:
                msgs = await self._sub.fetch(self._batch, timeout=self._poll_s)
            except TimeoutError:
                continue
            except Exception as exc:  # reconnecting, JetStream restarting...
                if self._stopping.is_set():
                    break
                log.warning("fetching events failed: %r", exc)
                await asyncio.sleep(0.5)
                continue
            for i, msg in enumerate(msgs):
                if self._stopping.is_set():
                    # Fetched but not started: hand back for redelivery at once.
                    for rest in msgs[i:]:
                        await _settle(rest.nak())
                    break
                await self.on_event(msg)

    async def on_event(self, msg: Msg) -> None:
        with message_span(self._tracing, f"store {msg.subject}", msg, SpanKind.CONSUMER) as span:
            outcome = await self._store(msg)
            if span is not None:
                span.set_attribute("llmchat.outcome", outcome)

    async def _store(self, msg: Msg) -> str:
        """Store one event, settle the message; how it went (for metrics and traces)."""
        try:
            event = decode_event(msg.data)
        except DecodeErrors as exc:
            log.warning("malformed event on %s terminated: %s", msg.subject, exc)
            await _settle(msg.term())
            self._count("unknown", "malformed")
            return "malformed"
        kind = event.__struct_config__.tag
        assert isinstance(kind, str)
        delay = RETRY_FIRST_S
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = await self._recorder.record(event)
            except UNAVAILABLE_ERRORS as exc:
                if self._metrics is not None:
                    self._metrics.db_error("events")
                if attempt == 1 or attempt % 10 == 0:
                    log.warning(
                        "database unavailable storing event %s (attempt %d): %r; retrying",
                        event.request_id,
                        attempt,
                        exc,
                    )
                if self._stopping.is_set():
                    await _settle(msg.nak())
                    return "unavailable"
                await _settle(msg.in_progress())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            except Exception:
                # A bug, not an outage: leave the message for redelivery after ack_wait.
                log.exception("storing event %s failed", event.request_id)
                await _settle(msg.nak(delay=self._retry_max_s))
                self._count(kind, "failed")
                return "failed"
            break
        if attempt > 1:
            log.info("event %s stored after %d attempts", event.request_id, attempt)
        if outcome is Outcome.STORED:
            self.stored += 1
        elif outcome is Outcome.NO_CONVERSATION:
            log.info(
                "event %s: conversation %s does not exist; skipped",
                event.request_id,
                event.conversation_id,
            )
        await _settle(msg.ack())
        self._count(kind, outcome.value)
        return outcome.value

    def _count(self, kind: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.event(kind, outcome)


async def _settle(op: Awaitable[object]) -> None:
    """Await an ack / nak / term / in_progress; a lost connection only means redelivery."""
    try:
        await op
    except Exception as exc:
        log.debug("settling an event failed (it will be redelivered): %r", exc)
