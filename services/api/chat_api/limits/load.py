"""``LoopLag``: how far behind this process's event loop runs, the measured load on which
admission sheds new chats.

Every ``interval_s`` a timer notes how late it fired, and ``lag_s`` follows the lateness
as a moving average. A loop with more ready work than its core can run fires its timers
late, and every chunk it relays waits as long: past ``limit_s`` a new chat is refused
with 503 ``overloaded`` and Retry-After (another instance may have room, or this one in
a moment) instead of joining streams that would all slow down; the open ones go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("chat_api.limits.load")

INTERVAL_S = 0.05
WEIGHT = 0.25
"""Of each new lateness in the average: it settles within about 0.2 s of a change."""


class LoopLag:
    def __init__(self, limit_s: float, interval_s: float = INTERVAL_S) -> None:
        self.limit_s = limit_s
        """Above this lag new chats are refused (0: never)."""
        self.interval_s = interval_s
        self.lag_s = 0.0
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
    def overloaded(self) -> bool:
        return 0 < self.limit_s < self.lag_s

    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval_s
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            late = max(0.0, loop.time() - due)
            self.lag_s += WEIGHT * (late - self.lag_s)
            over = self.overloaded
            if over != self._was_overloaded:  # the edges, not every refusal
                self._was_overloaded = over
                if over:
                    log.warning(
                        "event loop %.0f ms behind (limit %.0f ms): refusing new chats",
                        self.lag_s * 1000,
                        self.limit_s * 1000,
                    )
                else:
                    log.info("event loop caught up: admitting new chats again")
