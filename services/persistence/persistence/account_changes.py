"""``AccountChanged`` announcements: after a committed change to a user, an API key or a
user's settings, every api instance hears it on ``ACCOUNT_CHANGES`` and drops its cached
copy, so a disabled user or a revoked key stops working everywhere at once.

Core NATS, at most once: a lost announcement only means an api keeps the old record
until its cache entry expires (``AUTH_CACHE_TTL_S``); the api also flushes these caches
when it reconnects. A failed publish never fails the change itself.
"""

from __future__ import annotations

import logging
from typing import Protocol

from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.accounts import AccountChanged
from contracts.codec import encode

log = logging.getLogger(__name__)


class AccountChanges(Protocol):
    async def announce(self, change: AccountChanged) -> None: ...


class NatsAccountChanges:
    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc

    async def announce(self, change: AccountChanged) -> None:
        try:
            await self._nc.publish(subjects.ACCOUNT_CHANGES, encode(change))
        except Exception as exc:  # closed / reconnecting: the api's TTL is the backstop
            log.warning(
                "account change not announced (%s user_id=%s): %r", change.kind, change.user_id, exc
            )
