"""``on_swap_status``: the workers' ``SwapStatus`` reports (ADMIN stream), read from the
start of the stream through an ordered consumer on the service's FastStream broker, so
that every model-admin instance knows the latest status per command and worker.
Statuses sent before this instance started are replayed into memory only (no
announcement, no revert). A malformed status is dropped and logged."""

from __future__ import annotations

import logging
import time

from nats.js.api import DeliverPolicy

from contracts import subjects
from contracts.admin import SwapStatus
from contracts.codec import decode_swap_status
from llmchat_bus.broker import Replay, ServiceBroker, Subscription
from model_admin.service import ModelAdmin

log = logging.getLogger(__name__)

REPLAYED_BEFORE_S = 5.0
"""A status older than this instance's start by more than this is a replay."""


class SwapStatuses:
    def __init__(self, broker: ServiceBroker, admin: ModelAdmin) -> None:
        self._admin = admin
        self._started_at = time.time()
        self.subscription = Subscription(
            broker,
            subjects.ADMIN_STATUS_SUBJECTS,
            payload=SwapStatus,
            decode=decode_swap_status,
            handle=self.on_swap_status,
            malformed="malformed swap status on %s dropped: %s",
            logger=log,
            description="Every model-admin instance keeps the latest status per command and "
            "worker (ordered consumer from the start of the stream).",
            replay=Replay(subjects.ADMIN_STREAM, DeliverPolicy.ALL),
        )

    async def start(self) -> None:
        self._started_at = time.time()
        await self.subscription.start()

    async def on_swap_status(self, status: SwapStatus) -> None:
        live = status.at >= self._started_at - REPLAYED_BEFORE_S
        try:
            await self._admin.on_swap_status(status, live=live)
        except Exception:
            log.exception("swap status %s failed", status.command_id)

    async def stop(self, timeout_s: float = 0.0) -> None:
        """Unsubscribe (a status is handled at once: nothing to wait for)."""
        await self.subscription.stop()
