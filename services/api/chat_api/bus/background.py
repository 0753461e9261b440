"""Fire-and-forget work of the bus modules (core publishes, unsubscribes, KV writes) as
tracked tasks: started from synchronous code (``finally`` blocks of cancelled generators
included), awaited for a bounded time at close, failures logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("chat_api.bus.background")


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def wait(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the tasks running now."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background publish failed: %r", task.exception())
