"""Where a waiting chat stands in its model's queue, and about how long until a worker
takes it, read from JetStream's own state (so every api instance sees the same figure).

A chat waits as a message of ``REQUESTS_STREAM`` on its model's subject until a worker
with a free slot takes it from the model's durable consumer. Once a second, for each model
with chats waiting in this instance, ``QueuePositions``:

- asks the consumer for ``delivered.stream_seq`` (D: every request at or below it was
  handed to a worker) and ``delivered.consumer_seq`` (deliveries so far);
- lists the sequences of the model's messages after D up to the last waiting chat
  (``STREAM.MSG.GET`` next-by-subject, one round trip per request in front: the queue is
  short, bounded by ``MAX_QUEUE_DEPTH``, and a withdrawn request is simply not there);
- gives each waiting chat its position (1 = next) and an estimate: position divided by the
  measured service rate (deliveries per second over the last ``RATE_WINDOW_S``; None until
  the window holds a delivery).

Each figure is pushed onto the chat's feed as a ``QueueUpdate``; a chat handed to a worker
leaves the watch. Nothing runs while no chat waits.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts import subjects

log = logging.getLogger("chat_api.queue_positions")

TICK_S = 1.0
RATE_WINDOW_S = 60.0
MAX_SCAN = 1000
"""Requests listed per model and tick at most (a queue longer than this shows this)."""


class QueueUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """A waiting chat's place: ``position`` 1 is next; ``eta_s`` None = not known yet."""

    position: int
    eta_s: float | None


class Waiting:
    """What ``QueuePositions`` needs of a waiting chat: its model, its sequence in the
    requests stream, where its updates go, and what to call (once) when it is first seen
    waiting."""

    __slots__ = ("model", "on_waiting", "push", "seq")

    def __init__(
        self,
        model: str,
        seq: int,
        push: Callable[[QueueUpdate], None],
        on_waiting: Callable[[], None] | None = None,
    ) -> None:
        self.model = model
        self.seq = seq
        self.push = push
        self.on_waiting = on_waiting


@dataclass
class _ModelQueue:
    waiting: dict[str, Waiting] = field(default_factory=dict)
    deliveries: deque[tuple[float, int]] = field(default_factory=deque)
    """(monotonic time, delivered.consumer_seq) samples within ``RATE_WINDOW_S``."""

    def sample(self, now: float, delivered: int) -> None:
        self.deliveries.append((now, delivered))
        while self.deliveries and now - self.deliveries[0][0] > RATE_WINDOW_S:
            self.deliveries.popleft()

    def rate(self) -> float | None:
        """Requests handed to workers per second over the window, if any were."""
        if len(self.deliveries) < 2:
            return None
        (t0, d0), (t1, d1) = self.deliveries[0], self.deliveries[-1]
        if d1 <= d0 or t1 <= t0:
            return None
        return (d1 - d0) / (t1 - t0)


class QueuePositions:
    def __init__(self, js: JetStreamContext, tick_s: float = TICK_S) -> None:
        self.js = js
        self.tick_s = tick_s
        self._models: dict[str, _ModelQueue] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, request_id: str, waiting: Waiting) -> None:
        queue = self._models.setdefault(waiting.model, _ModelQueue())
        queue.waiting[request_id] = waiting
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="queue-positions")

    def unwatch(self, request_id: str, model: str) -> None:
        queue = self._models.get(model)
        if queue is not None:
            queue.waiting.pop(request_id, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        # The first figure after one tick: a free worker takes a chat within
        # milliseconds, and such a chat should not flash "1st in line".
        while any(queue.waiting for queue in self._models.values()):
            await asyncio.sleep(self.tick_s)
            for model, queue in list(self._models.items()):
                if not queue.waiting:
                    continue
                try:
                    await self._update(model, queue)
                except Exception as exc:  # JetStream unreachable: try again next tick
                    log.warning("queue positions of %s not read: %r", model, exc)

    async def _update(self, model: str, queue: _ModelQueue) -> None:
        try:
            info = await self.js.consumer_info(
                subjects.REQUESTS_STREAM, subjects.request_consumer(model), timeout=1.0
            )
        except NotFoundError:
            return  # no worker of the model ever started: nothing moves yet
        delivered = info.delivered
        handed = int(delivered.stream_seq or 0) if delivered else 0
        queue.sample(time.monotonic(), int(delivered.consumer_seq or 0) if delivered else 0)
        for request_id, waiting in list(queue.waiting.items()):
            if waiting.seq <= handed:
                del queue.waiting[request_id]  # a worker has it: starting
        if not queue.waiting:
            return
        last = max(waiting.seq for waiting in queue.waiting.values())
        ahead = await self._waiting_seqs(model, handed + 1, last)
        rate = queue.rate()
        for waiting in queue.waiting.values():
            position = bisect.bisect_left(ahead, waiting.seq) + 1
            eta = round(position / rate, 1) if rate else None
            waiting.push(QueueUpdate(position=position, eta_s=eta))
            if waiting.on_waiting is not None:
                waiting.on_waiting()
                waiting.on_waiting = None

    async def _waiting_seqs(self, model: str, first: int, last: int) -> list[int]:
        """Sequences of the model's requests still in the stream from ``first`` up to
        ``last`` (both included), in order."""
        subject = subjects.request_subject(model)
        seqs: list[int] = []
        seq = first
        while seq <= last and len(seqs) < MAX_SCAN:
            try:
                msg = await self.js.get_msg(
                    subjects.REQUESTS_STREAM, seq=seq, subject=subject, next=True
                )
            except NotFoundError:
                break
            if msg.seq is None or msg.seq > last:
                break
            seqs.append(msg.seq)
            seq = msg.seq + 1
        return seqs
