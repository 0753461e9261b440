"""The generations running on this worker, and cancels that arrived before their request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from contracts.inference import CancelReason
from inference_worker.generation import Generation


class InFlight:
    """Owns the capacity slots, the running generations (by request id) and a short
    memory of cancels for requests this worker has not taken (yet)."""

    def __init__(
        self,
        capacity: int,
        *,
        cancel_memory_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self._slots = asyncio.Semaphore(capacity)
        self._running: dict[str, Generation] = {}
        self._cancelled: dict[str, tuple[CancelReason, float]] = {}
        self._memory_s = cancel_memory_s
        self._clock = clock
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._running)

    async def acquire_slot(self) -> None:
        """Wait until fewer than ``capacity`` generations run (pair with ``start`` or
        ``release_slot``)."""
        await self._slots.acquire()

    def release_slot(self) -> None:
        self._slots.release()

    def start(self, generation: Generation) -> asyncio.Task[None]:
        """Run ``generation`` as its own task in a slot already acquired."""
        request_id = generation.request.request_id
        self._running[request_id] = generation
        self._idle.clear()
        task = generation.start()
        task.add_done_callback(lambda _t: self._finished(request_id))
        return task

    def _finished(self, request_id: str) -> None:
        self._running.pop(request_id, None)
        self._slots.release()
        if not self._running:
            self._idle.set()

    def cancel(self, request_id: str, reason: CancelReason) -> bool:
        """Cancel a running generation; remember the id if it is not running here."""
        generation = self._running.get(request_id)
        if generation is not None:
            generation.cancel(reason)
            return True
        now = self._clock()
        self._cancelled[request_id] = (reason, now + self._memory_s)
        self._forget_expired(now)
        return False

    def cancelled_before_start(self, request_id: str) -> CancelReason | None:
        """The reason if a cancel for ``request_id`` arrived recently (consumes it)."""
        entry = self._cancelled.pop(request_id, None)
        if entry is None or entry[1] < self._clock():
            return None
        return entry[0]

    def _forget_expired(self, now: float) -> None:
        # Insertion order == expiry order: drop from the front.
        for request_id, (_, expires) in list(self._cancelled.items()):
            if expires >= now:
                break
            del self._cancelled[request_id]

    def resize(self, capacity: int) -> bool:
        """Take a new capacity (a swap to a profile with another max_num_seqs). Only when
        idle and nothing pulls (every slot free), so no slot taken from the old semaphore
        is released into the new one; False (capacity unchanged) otherwise."""
        if capacity == self.capacity:
            return True
        if self._running:
            return False
        self.capacity = capacity
        self._slots = asyncio.Semaphore(capacity)
        return True

    def cancel_all(self, reason: CancelReason) -> int:
        for generation in list(self._running.values()):
            generation.cancel(reason)
        return len(self._running)

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once nothing runs; False if ``timeout_s`` passed first."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
