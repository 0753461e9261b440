"""``WorkerStatus`` on ``heartbeat_subject(worker_id)``: every interval and on each change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.codec import encode
from contracts.workers import WorkerHardware, WorkerState, WorkerStatus

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        nc: NatsClient,
        *,
        worker_id: str,
        model: str,
        engine: str,
        capacity: int,
        interval_s: float,
        in_flight: Callable[[], int],
        profile_id: str | None = None,
        hardware: WorkerHardware | None = None,
        queue_depth: Callable[[], Awaitable[int | None]] | None = None,
    ) -> None:
        self._nc = nc
        self._subject = subjects.heartbeat_subject(worker_id)
        self._worker_id = worker_id
        self._model = model
        self.engine = engine
        self.capacity = capacity
        self._interval_s = interval_s
        self._in_flight = in_flight
        self.profile_id = profile_id
        """The profile the engine runs (a swap changes it once the new engine is ready)."""
        self.hardware = hardware
        self.command_id: str | None = None
        """The last ``ActivateProfile`` applied (or being applied)."""
        self.swapping = False
        """Set by the swapper from the first drain step to the swap's end."""
        self._queue_depth = queue_depth
        self._pending: int | None = None
        self.state: WorkerState = "starting"
        self.detail = ""
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            worker_id=self._worker_id,
            model=self._model,
            state=self.state,
            in_flight=self._in_flight(),
            capacity=self.capacity,
            engine=self.engine,
            detail=self.detail,
            interval_s=self._interval_s,
            sent_at=time.time(),
            profile_id=self.profile_id,
            queue_depth=self._pending,
            hardware=self.hardware,
            command_id=self.command_id,
            swapping=self.swapping,
        )

    async def set_state(self, state: WorkerState, detail: str = "") -> None:
        """Change state and publish at once."""
        if state != self.state:
            log.info("worker state %s -> %s%s", self.state, state, f" ({detail})" if detail else "")
        self.state = state
        self.detail = detail
        await self.beat()

    async def beat(self) -> None:
        try:
            await self._nc.publish(self._subject, encode(self.status()))
        except Exception as exc:  # a closed / reconnecting connection must not stop us
            log.warning("heartbeat not sent: %r", exc)

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True  # the loop ends even if a cancel is swallowed (below)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            if self._queue_depth is not None:
                # One JetStream API call per interval; a state change reuses the last value.
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
                # task's cancel when the call finishes at that moment, and stop() waited
                # for ever (a worker that said "stopped" and never exited).
                try:
                    async with asyncio.timeout(self._interval_s):
                        self._pending = await self._queue_depth()
                except Exception as exc:
                    log.debug("queue depth unknown: %r", exc)
                    self._pending = None
            await self.beat()
            await asyncio.sleep(self._interval_s)
