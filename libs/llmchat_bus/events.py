"""A durable JetStream pull consumer whose handler writes to a database: the pull
subscription, the fetch loop, settling messages, and retrying while the database is down.

The service supplies the handler of a fetched batch (persistence handles its messages one
by one, metering records a whole batch in one transaction) and keeps the domain decisions:
which message is acked, ``term()``-ed or ``nak()``-ed. This module keeps the delivery
policy they share. Explicit ack, ``max_deliver`` unlimited: a message is never given up.
While the database is unreachable the messages in hand are retried with a growing
back-off (up to ``retry_max_s``), ``in_progress()`` telling JetStream to keep waiting, and
nothing behind them is fetched, so events are never acknowledged unwritten and stay in
order. On stop, messages fetched but not yet written are ``nak()``-ed for redelivery.

nats-py rather than a FastStream subscriber: FastStream's batch pull subscriber keeps
fetching until its batch is full or its timeout has passed, so a lone event waits for the
timeout (p50 630 ms with a 1 s timeout, 37 ms with 0.05 s, against 1.2 ms for this loop:
``python -m bench.event_pull``), and its non-batch one handles the messages of a fetch
concurrently, out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts import subjects

_log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.1
"""The first wait before retrying a write the database could not take; doubled after each."""

T = TypeVar("T")

BatchHandler = Callable[[Sequence[Msg]], Awaitable[None]]
"""Handles a fetched batch and settles each of its messages."""


def events_consumer_config(durable: str, ack_wait_s: float = 30.0) -> ConsumerConfig:
    """The durable consumer ``durable`` of every chat event of ``CHAT_EVENTS``."""
    return ConsumerConfig(
        durable_name=durable,
        filter_subject=subjects.EVENT_SUBJECTS,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait_s,
        max_deliver=-1,
        max_ack_pending=10_000,
    )


class EventConsumer:
    """Pulls batches of chat events for the durable consumer ``durable`` and hands each to
    ``handler`` until stopped."""

    def __init__(
        self,
        js: JetStreamContext,
        handler: BatchHandler,
        *,
        durable: str,
        task_name: str,
        batch: int,
        poll_s: float = 1.0,
        ack_wait_s: float = 30.0,
        retry_max_s: float = 10.0,
        log: logging.Logger = _log,
    ) -> None:
        self._js = js
        self._handler = handler
        self._durable = durable
        self._task_name = task_name
        self._batch = batch
        self._poll_s = poll_s
        self._ack_wait_s = ack_wait_s
        self.retry_max_s = retry_max_s
        # The service's own logger: its log lines keep their source and level settings.
        self._log = log
        self._stopping = asyncio.Event()
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def start(self) -> None:
        self._sub = await self._js.pull_subscribe(
            subjects.EVENT_SUBJECTS,
            durable=self._durable,
            stream=subjects.EVENTS_STREAM,
            config=events_consumer_config(self._durable, self._ack_wait_s),
        )
        self._task = asyncio.create_task(self._pull_loop(), name=self._task_name)

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
                self._log.debug("events unsubscribe: %r", exc)

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
                self._log.warning("fetching events failed: %r", exc)
                await asyncio.sleep(0.5)
                continue
            if self._stopping.is_set():
                # Fetched but not started: hand back for redelivery at once.
                await self.nak_all(msgs)
                break
            await self._handler(msgs)

    async def nak_all(self, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            await settle(msg.nak(), self._log)

    async def retry_while_unavailable(
        self,
        msgs: Sequence[Msg],
        write: Callable[[], Awaitable[T]],
        *,
        doing: str,
        done: str,
        retry_on: Callable[[BaseException], bool],
        on_outage: Callable[[], None] | None = None,
    ) -> T | None:
        """``write()``, retried with back-off while it fails with an error ``retry_on``
        accepts, ``msgs`` kept ``in_progress()`` meanwhile. None: stopped before it got
        through, ``msgs`` ``nak()``-ed. Any other error propagates.

        ``doing`` and ``done`` name the write in the log ("storing event r1" / "event r1
        stored"); ``on_outage`` is called on each failed attempt (a metric)."""
        delay = RETRY_FIRST_S
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await write()
            except Exception as exc:
                if not retry_on(exc):
                    raise
                if on_outage is not None:
                    on_outage()
                if attempt == 1 or attempt % 10 == 0:
                    self._log.warning(
                        "database unavailable %s (attempt %d): %r; retrying", doing, attempt, exc
                    )
                if self._stopping.is_set():
                    await self.nak_all(msgs)
                    return None
                for msg in msgs:
                    await settle(msg.in_progress(), self._log)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            if attempt > 1:
                self._log.info("%s after %d attempts", done, attempt)
            return result


async def settle(op: Awaitable[object], log: logging.Logger = _log) -> None:
    """Await an ack / nak / term / in_progress; a lost connection only means redelivery."""
    try:
        await op
    except Exception as exc:
        log.debug("settling an event failed (it will be redelivered): %r", exc)
