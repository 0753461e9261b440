"""Drop cached copies of other services' data when those services announce a change.

The api caches what every chat would otherwise ask over NATS: user records, API keys
and user settings (persistence's), and model names resolved by model-admin. Entries
live up to their TTL (``AUTH_CACHE_TTL_S``, ``MODEL_RESOLVE_TTL_S``), but a change made
through any api instance reaches all of them at once (``chat_api.bus.announcements``):

- ``ACCOUNT_CHANGES`` (``AccountChanged``): the user's record and keys, or their
  settings, are dropped;
- ``ADMIN_CHANGES`` of kind ``desired`` or ``aliases``: every resolved model name is
  dropped (which group serves a profile, where an alias points).

Both subjects are core NATS (at most once). An announcement can only be missed while the
connection is down, so everything is dropped when it comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from contracts.accounts import AccountChanged
from contracts.admin import AdminChange

if TYPE_CHECKING:
    from chat_api.auth import Authenticator
    from chat_api.bus.announcements import Announcements
    from chat_api.models import ModelRouter
    from chat_api.user_settings import UserSettingsService

log = logging.getLogger("chat_api.cache_invalidation")

ROUTING_CHANGES = ("desired", "aliases")
"""``AdminChange`` kinds that can change where a model name routes."""


class CacheInvalidation:
    def __init__(
        self,
        authenticator: Authenticator,
        user_settings: UserSettingsService | None,
        router: ModelRouter | None,
    ) -> None:
        self.authenticator = authenticator
        self.user_settings = user_settings
        self.router = router
        self._unlisten: list[Callable[[], None]] = []

    def start(self, announcements: Announcements) -> None:
        self._unlisten.append(announcements.accounts.add(self.account_changed))
        if self.router is not None:
            self._unlisten.append(announcements.admin.add(self.admin_changed))

    def stop(self) -> None:
        unlisten, self._unlisten = self._unlisten, []
        for stop_listening in unlisten:
            stop_listening()

    def account_changed(self, change: AccountChanged) -> None:
        if change.kind == "user":
            self.authenticator.forget_user(change.user_id)
        elif change.kind == "key":
            if change.key_id is not None:
                self.authenticator.forget_key(change.key_id)
        elif self.user_settings is not None:
            self.user_settings.forget(change.user_id)

    def admin_changed(self, change: AdminChange) -> None:
        if change.kind in ROUTING_CHANGES and self.router is not None:
            self.router.forget()

    def reconnected(self) -> None:
        """Announcements may have been missed while disconnected: drop everything."""
        self.authenticator.forget_all()
        if self.user_settings is not None:
            self.user_settings.forget_all()
        if self.router is not None:
            self.router.forget()
        log.info("NATS reconnected: cached users, keys, settings and model routes dropped")
