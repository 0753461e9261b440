"""What other services announce on core NATS, heard once per api instance (subscribers on
the api's FastStream broker) and handed to whoever listens here: account changes
(persistence), model-admin's changes, and the workers' swap statuses.

Listeners are plain callbacks, added and removed at any time (an admin event stream adds
one while it is open); one that raises is logged and the others still hear the message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from contracts import codec, subjects
from contracts.accounts import AccountChanged
from contracts.admin import AdminChange, SwapStatus
from llmchat_bus.broker import ServiceBroker, Subscription

log = logging.getLogger("chat_api.bus.announcements")

T = TypeVar("T")


class Listeners(Generic[T]):
    def __init__(self, what: str) -> None:
        self._what = what
        self._listeners: list[Callable[[T], None]] = []

    def __len__(self) -> int:
        return len(self._listeners)

    def add(self, listener: Callable[[T], None]) -> Callable[[], None]:
        """Hear every message from now on; call the returned function to stop."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    async def tell(self, message: T) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(message)
            except Exception:
                log.exception("a listener of %s failed", self._what)


class Announcements:
    def __init__(self, broker: ServiceBroker) -> None:
        self.accounts: Listeners[AccountChanged] = Listeners("account changes")
        self.admin: Listeners[AdminChange] = Listeners("admin changes")
        self.swaps: Listeners[SwapStatus] = Listeners("swap statuses")
        self._subscriptions = (
            Subscription(
                broker,
                subjects.ACCOUNT_CHANGES,
                payload=AccountChanged,
                decode=codec.decode_account_changed,
                handle=self.accounts.tell,
                malformed="bad account change on %s: %s",
                logger=log,
                description="Every api instance drops its cached copy of the user's record, "
                "keys or settings.",
            ),
            Subscription(
                broker,
                subjects.ADMIN_CHANGES,
                payload=AdminChange,
                decode=codec.decode_admin_change,
                handle=self.admin.tell,
                malformed="bad admin change on %s: %s",
                logger=log,
                description="Every api instance: resolved model names are dropped on a "
                "desired-state or alias change; open admin event streams relay it.",
            ),
            Subscription(
                broker,
                subjects.ADMIN_STATUS_SUBJECTS,
                payload=SwapStatus,
                decode=codec.decode_swap_status,
                handle=self.swaps.tell,
                malformed="bad swap status on %s: %s",
                logger=log,
                description="Open admin event streams relay each worker's swap progress.",
            ),
        )

    async def start(self) -> None:
        for subscription in self._subscriptions:
            await subscription.start()

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.stop()
