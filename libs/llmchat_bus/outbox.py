"""``JetStreamOutbox``: publishes that must not be lost to a JetStream blip.

Lifecycle events are the only record of a chat for persistence and metering: the user's
message rides on ``RequestAccepted``, the answer and the usage on the terminal event. A
server restart, a leader election or "no responders" while JetStream recovers lasts
seconds; a publish that gives up after a few tries loses the message for good.

``publish`` hands a message over without waiting (callers are request paths and
generations: neither should hold a slot on the bus). One task publishes the messages in
the order they were handed in, each until the server stores it (its PubAck), retrying
with a growing back-off; messages behind a failing one wait, so an accepted event never
overtakes nor follows its terminal event out of order. A message is given up (logged as
an error) only after ``give_up_after_s`` or when ``max_pending`` are already waiting.
Retries are safe: every message carries its ``Nats-Msg-Id``, and the stream's duplicate
window drops a copy the server had stored before an ack got lost. ``close`` waits a
bounded time for what is pending, so a draining service hands over what it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from nats.js import JetStreamContext

_log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.1
"""The first wait before publishing a message again; doubled after each failure."""


@dataclass(frozen=True, slots=True)
class _Pending:
    subject: str
    payload: bytes
    headers: dict[str, str]
    what: str
    """Names the message in the log ("completed r1")."""
    since: float


class JetStreamOutbox:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        timeout_s: float = 5.0,
        retry_max_s: float = 5.0,
        give_up_after_s: float = 600.0,
        max_pending: int = 10_000,
        log: logging.Logger = _log,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._js = js
        self._timeout_s = timeout_s
        self._retry_max_s = retry_max_s
        self._give_up_after_s = give_up_after_s
        self._max_pending = max_pending
        self._log = log
        self._clock = clock
        self._queue: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    def publish(self, subject: str, payload: bytes, headers: dict[str, str], what: str) -> None:
        """Queue a message (never blocks, never raises); it goes out as soon as it can."""
        if len(self._queue) >= self._max_pending:
            self.dropped += 1
            self._log.error(
                "outbox full (%d pending): %s dropped, JetStream has been unreachable too long",
                len(self._queue),
                what,
            )
            return
        self._queue.append(_Pending(subject, payload, headers, what, self._clock()))
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="jetstream-outbox"
            )

    async def flush(self, timeout_s: float) -> bool:
        """True once everything handed in is published (or given up); False on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout_s: float) -> None:
        """Publish what is pending for up to ``timeout_s``, then stop (the rest is lost,
        and logged)."""
        if not await self.flush(timeout_s):
            self._log.error(
                "%d message(s) not published at shutdown (JetStream unreachable for %.0f s): %s",
                len(self._queue),
                timeout_s,
                ", ".join(p.what for p in list(self._queue)[:10]),
            )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._publish_head()

    async def _publish_head(self) -> None:
        pending = self._queue[0]
        delay = RETRY_FIRST_S
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._js.publish(
                    pending.subject,
                    pending.payload,
                    timeout=self._timeout_s,
                    headers=pending.headers,
                )
            except Exception as exc:  # timeouts, no responders while JetStream recovers
                waited = self._clock() - pending.since
                if waited >= self._give_up_after_s:
                    self.dropped += 1
                    self._log.error(
                        "%s given up after %d attempts in %.0f s: %r",
                        pending.what,
                        attempt,
                        waited,
                        exc,
                    )
                    break
                if attempt == 1 or attempt % 10 == 0:
                    self._log.warning(
                        "publishing %s failed (attempt %d, %d waiting): %r; retrying",
                        pending.what,
                        attempt,
                        len(self._queue),
                        exc,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            self.published += 1
            if attempt > 1:
                self._log.info("%s published after %d attempts", pending.what, attempt)
            break
        self._queue.popleft()
