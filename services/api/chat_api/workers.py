"""Live view of the inference workers, fed by their heartbeats.

The registry keeps the latest ``WorkerStatus`` per worker. A worker serves new work when
its state is ``ready`` and its last heartbeat is fresh. Relays ``watch`` the worker that
owns their stream and get a callback once when it goes stale, fails or stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from contracts.workers import WorkerStatus

LostCallback = Callable[[str, str], None]
"""Called with (worker_id, why) when a watched worker is gone."""

_GONE_STATES = ("stopped", "failed")


_SWAP_STATES = frozenset({"draining", "loading"})


class WorkerView(msgspec.Struct, frozen=True, kw_only=True):
    """One worker as /readyz shows it."""

    id: str
    model: str
    state: str
    in_flight: int
    capacity: int
    last_seen_s: float
    live: bool


@dataclass
class _Entry:
    status: WorkerStatus
    seen_at: float  # monotonic time of the last heartbeat


@dataclass
class _Watch:
    since: float
    callbacks: list[LostCallback] = field(default_factory=list)


class WorkerRegistry:
    def __init__(
        self, stale_after_s: float = 3.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._workers: dict[str, _Entry] = {}
        self._watches: dict[str, _Watch] = {}

    def _stale_after(self, status: WorkerStatus) -> float:
        return max(self.stale_after_s, 3 * status.interval_s)

    def _is_fresh(self, entry: _Entry, now: float) -> bool:
        return now - entry.seen_at <= self._stale_after(entry.status)

    def observe(self, status: WorkerStatus) -> None:
        """Record a heartbeat; ``stopped`` / ``failed`` remove the worker."""
        if status.state in _GONE_STATES:
            self._workers.pop(status.worker_id, None)
            self._fire(status.worker_id, f"worker reported {status.state}")
            return
        self._workers[status.worker_id] = _Entry(status, self._clock())

    def is_live(self, worker_id: str) -> bool:
        entry = self._workers.get(worker_id)
        return entry is not None and self._is_fresh(entry, self._clock())

    def serves(self, model: str) -> bool:
        """True when at least one fresh worker in state ``ready`` serves ``model``."""
        now = self._clock()
        return any(
            e.status.model == model and e.status.state == "ready" and self._is_fresh(e, now)
            for e in self._workers.values()
        )

    def accepts(self, model: str) -> bool:
        """True when a request for ``model`` will be served: a fresh worker is ready, or is
        in the middle of a profile swap (``swapping``: draining / loading for a command).
        Requests queue in the stream meanwhile; their deadline bounds the wait. A worker
        draining to stop (even one that swapped before) does not accept."""
        now = self._clock()
        return any(
            e.status.model == model
            and self._is_fresh(e, now)
            and (
                e.status.state == "ready" or (e.status.state in _SWAP_STATES and e.status.swapping)
            )
            for e in self._workers.values()
        )

    def views(self) -> list[WorkerView]:
        now = self._clock()
        return [
            WorkerView(
                id=e.status.worker_id,
                model=e.status.model,
                state=e.status.state,
                in_flight=e.status.in_flight,
                capacity=e.status.capacity,
                last_seen_s=round(now - e.seen_at, 3),
                live=self._is_fresh(e, now),
            )
            for e in sorted(self._workers.values(), key=lambda e: e.status.worker_id)
        ]

    def watch(self, worker_id: str, callback: LostCallback) -> Callable[[], None]:
        """Call ``callback`` once when ``worker_id`` is gone; returns an unwatch function."""
        watch = self._watches.get(worker_id)
        if watch is None:
            watch = self._watches[worker_id] = _Watch(since=self._clock())
        watch.callbacks.append(callback)

        def unwatch() -> None:
            current = self._watches.get(worker_id)
            if current is not None and callback in current.callbacks:
                current.callbacks.remove(callback)
                if not current.callbacks:
                    del self._watches[worker_id]

        return unwatch

    def sweep(self) -> None:
        """Drop stale workers and tell the watchers of any worker that is gone.

        A watched worker never heard from is gone ``stale_after_s`` after the watch began.
        """
        now = self._clock()
        for worker_id, entry in list(self._workers.items()):
            if now - entry.seen_at > self._stale_after(entry.status) + 60.0:
                del self._workers[worker_id]  # long gone: forget it
        for worker_id, watch in list(self._watches.items()):
            current = self._workers.get(worker_id)
            if current is None:
                if now - watch.since > self.stale_after_s:
                    self._fire(worker_id, "no heartbeat from the worker")
            elif not self._is_fresh(current, now):
                self._fire(worker_id, f"no heartbeat for {now - current.seen_at:.1f} s")

    def _fire(self, worker_id: str, why: str) -> None:
        watch = self._watches.pop(worker_id, None)
        if watch is None:
            return
        for callback in watch.callbacks:
            callback(worker_id, why)
