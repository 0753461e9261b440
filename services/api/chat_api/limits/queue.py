"""Queue depth per model, polled in the background: what admission control sheds on.

Depth = requests on the model's durable consumer that no worker has taken yet
(``num_pending``) plus those handed to a worker but not yet acked (``num_ack_pending``:
in transit, or held by a worker that died and waiting for redelivery). Workers take a
request only when they have a free slot and ack it as they start it, so this is exactly
the backlog in front of the model's workers.

Why poll JetStream rather than read worker heartbeats: a worker knows its own in-flight
count and capacity, not the backlog in the stream; only the consumer knows that. One
``CONSUMER.INFO`` per served model every ``interval_s`` per api instance costs the bus
next to nothing and keeps the chat path to one dict lookup. The price is staleness of
up to one interval: a burst can overshoot the bound by what arrives in that time, so the
bound is a load-shedding threshold, not a hard cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts import subjects

log = logging.getLogger("chat_api.limits.queue")


class QueueProbe(Protocol):
    async def depth(self, model: str) -> int:
        """Requests waiting for a worker of ``model`` now."""
        ...


class JetStreamQueueProbe:
    def __init__(self, js: JetStreamContext, timeout_s: float = 1.0) -> None:
        self.js = js
        self.timeout_s = timeout_s

    async def depth(self, model: str) -> int:
        try:
            info = await self.js.consumer_info(
                subjects.REQUESTS_STREAM, subjects.request_consumer(model), timeout=self.timeout_s
            )
        except NotFoundError:
            return 0  # no worker of this model ever started: nothing can be queued for it
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


class QueueMonitor:
    """The latest depth of every served model, refreshed every ``interval_s``."""

    def __init__(self, probe: QueueProbe, models: Sequence[str], interval_s: float = 0.5) -> None:
        self.probe = probe
        self.models = tuple(models)
        self.interval_s = interval_s
        self._depths: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def depth(self, model: str) -> int:
        return self._depths.get(model, 0)

    def depths(self) -> dict[str, int]:
        """Every served model's last known depth (also what a metrics gauge can read)."""
        return {model: self._depths.get(model, 0) for model in self.models}

    async def poll(self) -> None:
        """Refresh every model once; a failing probe keeps the last known depth."""
        results = await asyncio.gather(
            *(self.probe.depth(model) for model in self.models), return_exceptions=True
        )
        failed = False
        for model, result in zip(self.models, results, strict=True):
            if isinstance(result, BaseException):
                failed = True
                continue
            self._depths[model] = result
        if failed and not self._failing:
            log.warning("queue depth poll failing; admission uses the last known depths")
        elif self._failing and not failed:
            log.info("queue depth poll recovered")
        self._failing = failed

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:
                log.exception("queue depth poll crashed")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="queue-depth-monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
