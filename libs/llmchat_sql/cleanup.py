"""``PeriodicCleanup``: a database-owning service's housekeeping (expired rows), run at
start and then every interval, as one of the service's served parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


class PeriodicCleanup:
    """Runs ``clean`` (it returns how many rows it removed) at start and every
    ``every_s``; a failure (the database away) is logged and tried again next time."""

    def __init__(
        self,
        what: str,
        clean: Callable[[], Awaitable[int]],
        every_s: float,
        log: logging.Logger,
    ) -> None:
        self.what = what
        self._clean = clean
        self._every_s = every_s
        self._log = log
        self._task: asyncio.Task[None] | None = None
        self.removed = 0
        """Rows removed since start."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"cleanup:{self.what}")

    async def stop(self, timeout_s: float) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> None:
        try:
            removed = await self._clean()
        except Exception as exc:
            self._log.warning("removing %s failed (tried again later): %r", self.what, exc)
            return
        self.removed += removed
        if removed:
            self._log.info("removed %d %s", removed, self.what)

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self._every_s)
