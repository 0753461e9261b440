"""``on_event``: the durable pull consumer ``PERSISTENCE_EVENTS_CONSUMER`` of
``CHAT_EVENTS`` that stores conversation messages, one at a time.

The pull loop, the back-off while the database is unreachable and settling are
``llmchat_bus.events``. Here: the message is acked after it is stored (or found already
stored); a malformed payload is ``term()``-ed, and so is an event the database refuses
(``is_refused``: the same insert would fail on every redelivery and, retried in place,
would hold up every event behind it); it stays in ``CHAT_EVENTS`` and the error log names
its stream sequence. Any other failure (a bug) is ``nak()``-ed with a delay. While the
database is down nothing behind the message in hand is handled, so events stay in order;
on stop, the rest of a fetched batch is ``nak()``-ed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind

from contracts import subjects
from contracts.codec import DecodeErrors, decode_event
from llmchat_bus.events import EventConsumer, settle
from llmchat_bus.tracing import message_span
from llmchat_sql.database import is_refused, is_unavailable
from persistence.messages import MessageRecorder, Outcome
from persistence.metrics import PersistenceMetrics
from persistence.tracing import PersistenceTracing

log = logging.getLogger(__name__)


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
        self._metrics = metrics
        self._tracing = tracing
        self._recorder = recorder
        self._consumer = EventConsumer(
            js,
            self._on_batch,
            durable=subjects.PERSISTENCE_EVENTS_CONSUMER,
            task_name="pull-events",
            batch=batch,
            poll_s=poll_s,
            ack_wait_s=ack_wait_s,
            retry_max_s=retry_max_s,
            log=log,
        )
        self.stored = 0
        """Messages stored since start (a metric for logs and tests)."""

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self, timeout_s: float = 10.0) -> None:
        await self._consumer.stop(timeout_s)

    async def _on_batch(self, msgs: Sequence[Msg]) -> None:
        for i, msg in enumerate(msgs):
            if self._consumer.stopping:
                # Fetched but not started: hand back for redelivery at once.
                await self._consumer.nak_all(msgs[i:])
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
            await settle(msg.term(), log)
            self._count("unknown", "malformed")
            return "malformed"
        kind = event.__struct_config__.tag
        assert isinstance(kind, str)
        try:
            outcome = await self._consumer.retry_while_unavailable(
                [msg],
                lambda: self._recorder.record(event),
                doing=f"storing event {event.request_id}",
                done=f"event {event.request_id} stored",
                retry_on=is_unavailable,
                on_outage=self._db_error,
            )
        except Exception as exc:
            if is_refused(exc):
                log.error(
                    "event %s (%s, stream sequence %s) refused by the database, terminated: %r",
                    event.request_id,
                    kind,
                    _stream_sequence(msg),
                    exc,
                )
                await settle(msg.term(), log)
                self._count(kind, "refused")
                return "refused"
            # A bug, not an outage: leave the message for redelivery after ack_wait.
            log.exception("storing event %s failed", event.request_id)
            await settle(msg.nak(delay=self._consumer.retry_max_s), log)
            self._count(kind, "failed")
            return "failed"
        if outcome is None:
            return "unavailable"
        if outcome is Outcome.STORED:
            self.stored += 1
        elif outcome is Outcome.NO_CONVERSATION:
            log.info(
                "event %s: conversation %s does not exist; skipped",
                event.request_id,
                event.conversation_id,
            )
        await settle(msg.ack(), log)
        self._count(kind, outcome.value)
        return outcome.value

    def _db_error(self) -> None:
        if self._metrics is not None:
            self._metrics.db_error("events")

    def _count(self, kind: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.event(kind, outcome)


def _stream_sequence(msg: Msg) -> int | None:
    try:
        return msg.metadata.sequence.stream
    except Exception:  # not a JetStream message (tests)
        return None
