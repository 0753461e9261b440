"""``on_batch``: the durable pull consumer ``METERING_EVENTS_CONSUMER`` of ``CHAT_EVENTS``
that turns lifecycle events into usage records.

The pull loop, the back-off while the database is unreachable and settling are
``llmchat_bus.events``. Here: each fetched batch is recorded in one transaction, then
every message of it is acked (explicit ack, after the rows are written). A malformed
payload is ``term()``-ed. If the database refuses a batch (not an outage), its events are
recorded one by one so that one bad event cannot hold up the others; an event refused on
its own is ``nak()``-ed with a delay (and logged). Since recording is an upsert by request
id, a redelivery never counts twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from contracts import subjects
from contracts.codec import DecodeErrors, decode_event
from contracts.events import ChatEvent
from llmchat_bus.events import EventConsumer, settle
from llmchat_sql.database import is_unavailable
from metering.recorder import RecordResult
from metering.tracing import MeteringTracing, batch_spans

log = logging.getLogger(__name__)


class EventRecorder(Protocol):
    async def record(self, events: Sequence[ChatEvent]) -> RecordResult: ...


class EventSubscriber:
    def __init__(
        self,
        js: JetStreamContext,
        recorder: EventRecorder,
        *,
        batch: int = 256,
        poll_s: float = 1.0,
        ack_wait_s: float = 30.0,
        retry_max_s: float = 10.0,
        tracing: MeteringTracing | None = None,
    ) -> None:
        self._tracing = tracing
        self._recorder = recorder
        self._consumer = EventConsumer(
            js,
            self._on_fetched,
            durable=subjects.METERING_EVENTS_CONSUMER,
            task_name="metering-events",
            batch=batch,
            poll_s=poll_s,
            ack_wait_s=ack_wait_s,
            retry_max_s=retry_max_s,
            log=log,
        )
        self.recorded = 0
        """Events that created or changed a usage record since start."""
        self.duplicates = 0
        """Events already recorded (redeliveries, second terminal events) since start."""
        self.terminated = 0
        """Malformed events terminated since start."""

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self, timeout_s: float = 10.0) -> None:
        await self._consumer.stop(timeout_s)

    async def _on_fetched(self, msgs: Sequence[Msg]) -> None:
        with batch_spans(self._tracing, msgs):
            await self.on_batch(msgs)

    async def on_batch(self, msgs: Sequence[Msg]) -> None:
        """Record a fetched batch and settle every message of it."""
        decoded: list[tuple[Msg, ChatEvent]] = []
        for msg in msgs:
            try:
                decoded.append((msg, decode_event(msg.data)))
            except DecodeErrors as exc:
                log.warning("malformed event on %s terminated: %s", msg.subject, exc)
                self.terminated += 1
                await settle(msg.term(), log)
        if not decoded:
            return
        try:
            recorded = await self._record(decoded)
        except Exception as exc:
            if len(decoded) == 1:
                msg, event = decoded[0]
                retry_max_s = self._consumer.retry_max_s
                log.error(
                    "recording event %s of request %s failed (%r); redelivering it in %.0f s",
                    msg.subject,
                    event.request_id,
                    exc,
                    retry_max_s,
                )
                await settle(msg.nak(delay=retry_max_s), log)
                return
            log.warning("a batch of %d events was refused (%r); one by one", len(decoded), exc)
            for pair in decoded:
                await self.on_batch([pair[0]])
            return
        if recorded:
            for msg, _ in decoded:
                await settle(msg.ack(), log)

    async def _record(self, decoded: list[tuple[Msg, ChatEvent]]) -> bool:
        """Record the events, retrying while the database is unavailable. False: stopped
        meanwhile (the messages are nak'ed). Any other database error propagates."""
        events = [event for _, event in decoded]
        result = await self._consumer.retry_while_unavailable(
            [msg for msg, _ in decoded],
            lambda: self._recorder.record(events),
            doing=f"recording {len(events)} events",
            done=f"{len(events)} events recorded",
            retry_on=is_unavailable,
        )
        if result is None:
            return False
        self.recorded += result.changed
        self.duplicates += result.duplicates
        return True
