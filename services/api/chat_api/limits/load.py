"""``LoopLag``: how far behind this process's event loop runs, the measured load on which
admission sheds new chats.

Every ``interval_s`` a timer notes how late it fired, and ``lag_s`` follows the lateness
as a moving average. A loop with more ready work than its core can run fires its timers
late, and every chunk it relays waits as long.

The lag alone reacts too late: streams admitted in a burst start costing CPU only as
their tokens come, so by the time the lag rises many more have been let in. So the lag
also sets a bound on the streams open here (``stream_bound``), additive increase /
multiplicative decrease: while the lag is over ``limit_s`` the bound drops to 90 % of the
streams open (never under ``MIN_BOUND``); while it is under half of it and the streams are
near the bound, the bound rises by 5 % a tick. A new chat is refused with 503
``overloaded`` and Retry-After (another instance may have room, or this one in a moment)
while the lag is over the limit or the streams are at the bound; the open ones go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger("chat_api.limits.load")

INTERVAL_S = 0.05
WEIGHT = 0.25
"""Of each new lateness in the average: it settles within about 0.2 s of a change."""
DECREASE = 0.9
INCREASE = 0.05
MIN_BOUND = 32
"""A loop behind with fewer streams open is slowed by something else (start-up, a pause):
no bound is set below this."""


class LoopLag:
    def __init__(
        self,
        limit_s: float,
        interval_s: float = INTERVAL_S,
        open_streams: Callable[[], int] | None = None,
    ) -> None:
        self.limit_s = limit_s
        """Above this lag new chats are refused (0: never, and no stream bound)."""
        self.interval_s = interval_s
        self.lag_s = 0.0
        self._open_streams = open_streams
        self.stream_bound: int | None = None
        """At most this many streams open here (None: no bound yet)."""
        self._task: asyncio.Task[None] | None = None
        self._was_overloaded = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._measure(), name="loop-lag")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def behind(self) -> bool:
        """The loop runs more than ``limit_s`` behind."""
        return 0 < self.limit_s < self.lag_s

    @property
    def overloaded(self) -> bool:
        """Refuse new chats: the loop is behind, or the streams are at their bound."""
        if self.behind:
            return True
        bound = self.stream_bound
        return (
            bound is not None and self._open_streams is not None and self._open_streams() >= bound
        )

    def _adjust_bound(self) -> None:
        if self._open_streams is None or self.limit_s <= 0:
            return
        open_now = self._open_streams()
        bound = self.stream_bound
        if self.behind:
            if open_now < MIN_BOUND:
                return
            cut = max(MIN_BOUND, int(open_now * DECREASE))
            self.stream_bound = cut if bound is None else min(bound, cut)
        elif bound is not None and self.lag_s < self.limit_s / 2 and open_now >= bound * DECREASE:
            self.stream_bound = bound + max(1, int(bound * INCREASE))

    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval_s
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            late = max(0.0, loop.time() - due)
            self.lag_s += WEIGHT * (late - self.lag_s)
            self._adjust_bound()
            behind = self.behind
            if behind != self._was_overloaded:  # the edges, not every refusal
                self._was_overloaded = behind
                if behind:
                    log.warning(
                        "event loop %.0f ms behind (limit %.0f ms) with %s streams open: "
                        "refusing new chats, at most %s streams",
                        self.lag_s * 1000,
                        self.limit_s * 1000,
                        self._open_streams() if self._open_streams is not None else "?",
                        self.stream_bound,
                    )
                else:
                    log.info(
                        "event loop caught up: admitting new chats up to %s streams",
                        self.stream_bound,
                    )
