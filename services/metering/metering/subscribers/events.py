"""``on_batch``: the durable pull consumer ``METERING_EVENTS_CONSUMER`` of ``CHAT_EVENTS``
that turns lifecycle events into usage records.

Each fetched batch is recorded in one transaction, then every message of it is acked
(explicit ack, after the rows are written). A malformed payload is ``term()``-ed. While
the database is unreachable the batch in hand is retried here with a growing back-off (up
to ``retry_max_s``), ``in_progress()`` telling JetStream to keep waiting, and nothing
behind it is fetched: events are never acknowledged unrecorded. If the database refuses a
batch (not an outage), its events are recorded one by one so that one bad event cannot
hold up the others; an event refused on its own is ``nak()``-ed with a delay (and
logged). On stop, a batch still unrecorded is ``nak()``-ed for redelivery. The consumer
never gives up on a message (``max_deliver`` unlimited), and since recording is an
upsert by request id, a redelivery never counts twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from typing import Protocol

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts import subjects
from contracts.codec import DecodeErrors, decode_event
from contracts.events import ChatEvent
from metering.recorder import RecordResult
from metering.tracing import MeteringTracing, batch_spans
from nats_service.database import is_unavailable

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.1


class EventRecorder(Protocol):
    async def record(self, events: Sequence[ChatEvent]) -> RecordResult: ...


def events_consumer_config(ack_wait_s: float = 30.0) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=subjects.METERING_EVENTS_CONSUMER,
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
        recorder: EventRecorder,
        *,
        batch: int = 256,
        poll_s: float = 1.0,
        ack_wait_s: float = 30.0,
        retry_max_s: float = 10.0,
        tracing: MeteringTracing | None = None,
    ) -> None:
        self._js = js
        self._tracing = tracing
        self._recorder = recorder
        self._batch = batch
        self._poll_s = poll_s
        self._ack_wait_s = ack_wait_s
        self._retry_max_s = retry_max_s
        self._stopping = asyncio.Event()
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self.recorded = 0
        """Events that created or changed a usage record since start."""
        self.duplicates = 0
        """Events already recorded (redeliveries, second terminal events) since start."""
        self.terminated = 0
        """Malformed events terminated since start."""

    async def start(self) -> None:
        self._sub = await self._js.pull_subscribe(
            subjects.EVENT_SUBJECTS,
            durable=subjects.METERING_EVENTS_CONSUMER,
            stream=subjects.EVENTS_STREAM,
            config=events_consumer_config(self._ack_wait_s),
        )
        self._task = asyncio.create_task(self._pull_loop(), name="metering-events")

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
            if self._stopping.is_set():
                # Fetched but not started: hand back for redelivery at once.
                for msg in msgs:
                    await _settle(msg.nak())
                break
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
                await _settle(msg.term())
        if not decoded:
            return
        try:
            recorded = await self._record(decoded)
        except Exception as exc:
            if len(decoded) == 1:
                msg, event = decoded[0]
                log.error(
                    "recording event %s of request %s failed (%r); redelivering it in %.0f s",
                    msg.subject,
                    event.request_id,
                    exc,
                    self._retry_max_s,
                )
                await _settle(msg.nak(delay=self._retry_max_s))
                return
            log.warning("a batch of %d events was refused (%r); one by one", len(decoded), exc)
            for pair in decoded:
                await self.on_batch([pair[0]])
            return
        if recorded:
            for msg, _ in decoded:
                await _settle(msg.ack())

    async def _record(self, decoded: list[tuple[Msg, ChatEvent]]) -> bool:
        """Record the events, retrying while the database is unavailable. False: stopped
        meanwhile (the messages are nak'ed). Any other database error propagates."""
        events = [event for _, event in decoded]
        delay = RETRY_FIRST_S
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._recorder.record(events)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                if attempt == 1 or attempt % 10 == 0:
                    log.warning(
                        "database unavailable recording %d events (attempt %d): %r; retrying",
                        len(events),
                        attempt,
                        exc,
                    )
                if self._stopping.is_set():
                    for msg, _ in decoded:
                        await _settle(msg.nak())
                    return False
                for msg, _ in decoded:
                    await _settle(msg.in_progress())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            if attempt > 1:
                log.info("%d events recorded after %d attempts", len(events), attempt)
            self.recorded += result.changed
            self.duplicates += result.duplicates
            return True


async def _settle(op: Awaitable[object]) -> None:
    """Await an ack / nak / term / in_progress; a lost connection only means redelivery."""
    try:
        await op
    except Exception as exc:
        log.debug("settling an event failed (it will be redelivered): %r", exc)
