"""``MemoryLimitStore``: the limits of ONE api process (the embedded default).

The same algorithm as the Redis script, in Python; atomic because ``acquire`` never
awaits between its check and its record (one event loop).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chat_api.limits.store import (
    ALLOWED,
    CONCURRENCY_RETRY_S,
    WINDOW_S,
    LimitKind,
    Subject,
    Verdict,
)


@dataclass
class _Window:
    admitted: dict[str, float] = field(default_factory=dict)
    """request id -> admitted at, oldest first (insertion order = time order)."""
    costs: dict[str, int] = field(default_factory=dict)
    used: int = 0
    leases: dict[str, float] = field(default_factory=dict)
    """request id -> slot expiry."""

    def trim(self, now: float, window_s: float) -> None:
        cutoff = now - window_s
        admitted = self.admitted
        while admitted:
            request_id = next(iter(admitted))
            if admitted[request_id] > cutoff:
                break
            del admitted[request_id]
            self.used -= self.costs.pop(request_id, 0)
        if self.leases:
            for request_id in [r for r, until in self.leases.items() if until <= now]:
                del self.leases[request_id]

    @property
    def empty(self) -> bool:
        return not self.admitted and not self.leases


class MemoryLimitStore:
    def __init__(
        self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._next_sweep = clock() + window_s

    def _sweep(self, now: float) -> None:
        """Forget the windows of callers who stopped calling (once per window)."""
        self._next_sweep = now + self.window_s
        for key, win in list(self._windows.items()):
            win.trim(now, self.window_s)
            if win.empty:
                del self._windows[key]

    async def acquire(
        self, subjects: Sequence[Subject], request_id: str, tokens: int, lease_s: float
    ) -> Verdict:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        window_s = self.window_s
        worst: tuple[float, LimitKind, str] | None = None
        windows: list[_Window] = []
        for subject in subjects:
            limits = subject.limits
            win = self._windows.get(subject.key)
            if win is None:
                win = self._windows[subject.key] = _Window()
            win.trim(now, window_s)
            windows.append(win)
            waits: list[tuple[float, LimitKind]] = []
            if limits.rpm > 0 and len(win.admitted) >= limits.rpm:
                # The entry whose expiry brings the count below the limit.
                times = list(win.admitted.values())
                waits.append((times[len(times) - limits.rpm] + window_s - now, "rpm"))
            if limits.tpm > 0:
                need = win.used + min(tokens, limits.tpm) - limits.tpm
                if need > 0:
                    waits.append((self._token_wait(win, need, now), "tpm"))
            if limits.concurrent > 0 and len(win.leases) >= limits.concurrent:
                waits.append((CONCURRENCY_RETRY_S, "concurrent"))
            for wait, kind in waits:
                if worst is None or wait > worst[0]:
                    worst = (wait, kind, subject.scope)
        if worst is not None:
            self._drop_empty(subjects)
            return Verdict(
                allowed=False,
                retry_after_s=max(1.0, math.ceil(worst[0])),
                limit=worst[1],
                scope=worst[2],
            )
        for subject, win in zip(subjects, windows, strict=True):
            limits = subject.limits
            if limits.rpm > 0 or limits.tpm > 0:
                win.admitted[request_id] = now
            if limits.tpm > 0:
                cost = min(tokens, limits.tpm)
                win.costs[request_id] = cost
                win.used += cost
            if limits.concurrent > 0:
                win.leases[request_id] = now + lease_s
        self._drop_empty(subjects)
        return ALLOWED

    def _token_wait(self, win: _Window, need: int, now: float) -> float:
        freed = 0
        for request_id, at in win.admitted.items():
            freed += win.costs.get(request_id, 0)
            if freed >= need:
                return at + self.window_s - now
        return self.window_s

    async def finish(
        self, subjects: Sequence[Subject], request_id: str, tokens: int | None, forget: bool
    ) -> None:
        for subject in subjects:
            win = self._windows.get(subject.key)
            if win is None:
                continue
            win.leases.pop(request_id, None)
            if forget:
                win.admitted.pop(request_id, None)
                win.used -= win.costs.pop(request_id, 0)
            elif tokens is not None and request_id in win.costs:
                win.used += tokens - win.costs[request_id]
                win.costs[request_id] = tokens
        self._drop_empty(subjects)

    def _drop_empty(self, subjects: Sequence[Subject]) -> None:
        for subject in subjects:
            win = self._windows.get(subject.key)
            if win is not None and win.empty:
                del self._windows[subject.key]

    async def close(self) -> None:
        self._windows.clear()
