"""What model-admin knows about the live system: workers, desired states, swaps. No NATS.

Fed by the watchers (``subscribers/watch.py``): each ``WorkerStatus`` from the
``worker_status`` bucket, each desired state, each command and swap status. A worker is
*gone* once it has been silent for ``gone_after_intervals`` of its own heartbeat
intervals, unless its last word was ``stopped`` (a clean exit).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from contracts.admin import (
    ActivateProfile,
    DesiredState,
    SwapReport,
    SwapStatus,
    SwapStatusQuery,
    WorkerView,
)
from contracts.workers import WorkerStatus

MAX_SWAPS = 500
"""Swap reports kept in memory (the ADMIN stream keeps them all for 30 days)."""


@dataclass
class _Seen:
    status: WorkerStatus
    seen_at: float
    gone: bool = False


@dataclass
class _Swap:
    command_id: str
    group: str
    profile_id: str
    issued_by: str
    at: float
    workers: dict[str, SwapStatus]


def _signature(status: WorkerStatus) -> tuple[object, ...]:
    """What makes a heartbeat worth telling the admin screen about."""
    return (
        status.state,
        status.profile_id,
        status.model,
        status.detail,
        status.in_flight,
        status.queue_depth,
        status.command_id,
    )


class Fleet:
    def __init__(self, gone_after_intervals: float = 3.0, forget_after_s: float = 60.0) -> None:
        self._gone_after = gone_after_intervals
        self._forget_after = forget_after_s
        self._workers: dict[str, _Seen] = {}
        self.desired: dict[str, DesiredState] = {}
        self._swaps: OrderedDict[str, _Swap] = OrderedDict()

    # --- workers -----------------------------------------------------------------------
    def update(self, status: WorkerStatus, seen_at: float) -> WorkerView | None:
        """Record a heartbeat; the view if something visible changed (else None)."""
        before = self._workers.get(status.worker_id)
        self._workers[status.worker_id] = _Seen(status, seen_at)
        if (
            before is not None
            and not before.gone
            and _signature(before.status) == _signature(status)
        ):
            return None
        return self._view(self._workers[status.worker_id], seen_at)

    def remove(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    def _is_gone(self, seen: _Seen, now: float) -> bool:
        if seen.status.state == "stopped":
            return False
        return now - seen.seen_at > self._gone_after * seen.status.interval_s

    def _view(self, seen: _Seen, now: float) -> WorkerView:
        return WorkerView(
            status=seen.status,
            gone=self._is_gone(seen, now),
            age_s=round(max(0.0, now - seen.seen_at), 3),
        )

    def sweep(self, now: float) -> list[WorkerView]:
        """Mark workers gone (returns the newly gone); forget the long silent ones (their
        ``worker_status`` entry has expired too)."""
        newly_gone: list[WorkerView] = []
        for worker_id, seen in list(self._workers.items()):
            if now - seen.seen_at > self._forget_after:
                del self._workers[worker_id]
                continue
            if not seen.gone and self._is_gone(seen, now):
                seen.gone = True
                newly_gone.append(self._view(seen, now))
        return newly_gone

    def views(
        self, now: float, group: str | None = None, include_gone: bool = True
    ) -> list[WorkerView]:
        views = [
            self._view(seen, now)
            for seen in self._workers.values()
            if group is None or seen.status.model == group
        ]
        if not include_gone:
            views = [v for v in views if not v.gone]
        return sorted(views, key=lambda v: (v.status.model, v.status.worker_id))

    def live(self, now: float, group: str | None = None) -> list[WorkerStatus]:
        """Workers that are not gone and have not stopped."""
        return [
            v.status
            for v in self.views(now, group, include_gone=False)
            if v.status.state != "stopped"
        ]

    def groups(self, now: float) -> list[str]:
        """Every group with a desired state or a live worker."""
        return sorted(set(self.desired) | {s.model for s in self.live(now)})

    # --- swaps -------------------------------------------------------------------------
    def record_command(self, command: ActivateProfile) -> None:
        if command.command_id in self._swaps:
            return
        self._swaps[command.command_id] = _Swap(
            command_id=command.command_id,
            group=command.group,
            profile_id=command.profile.id,
            issued_by=command.issued_by,
            at=command.at,
            workers={},
        )
        while len(self._swaps) > MAX_SWAPS:
            self._swaps.popitem(last=False)

    def record_status(self, status: SwapStatus) -> None:
        swap = self._swaps.get(status.command_id)
        if swap is None:  # a status for a command from before our memory
            swap = _Swap(
                command_id=status.command_id,
                group=status.group,
                profile_id=status.profile_id,
                issued_by="",
                at=status.at,
                workers={},
            )
            self._swaps[status.command_id] = swap
        swap.workers[status.worker_id] = status

    def reports(self, query: SwapStatusQuery) -> list[SwapReport]:
        swaps = list(reversed(self._swaps.values()))
        if query.command_id is not None:
            swaps = [s for s in swaps if s.command_id == query.command_id]
        if query.group is not None:
            swaps = [s for s in swaps if s.group == query.group]
        return [
            SwapReport(
                command_id=s.command_id,
                group=s.group,
                profile_id=s.profile_id,
                issued_by=s.issued_by,
                at=s.at,
                workers=sorted(s.workers.values(), key=lambda w: w.worker_id),
            )
            for s in swaps[: query.limit]
        ]
