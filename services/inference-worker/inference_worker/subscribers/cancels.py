"""``on_cancel``: core subscription on every request's cancel subject, on the service's
FastStream broker."""

from __future__ import annotations

import logging

from contracts import subjects
from contracts.codec import decode_cancel
from contracts.inference import CancelRequest
from inference_worker.inflight import InFlight
from llmchat_bus.broker import ServiceBroker, Subscription

log = logging.getLogger(__name__)


class CancelSubscriber:
    """Cancels the owning generation (its task) or remembers the id for a while."""

    def __init__(self, broker: ServiceBroker, inflight: InFlight) -> None:
        self._inflight = inflight
        self.subscription = Subscription(
            broker,
            subjects.CANCEL_SUBJECTS,
            payload=CancelRequest,
            decode=decode_cancel,
            handle=self.on_cancel,
            malformed="malformed cancel on %s ignored: %s",
            logger=log,
            description="Cancel the generation of a request (every worker hears it).",
        )

    async def start(self) -> None:
        await self.subscription.start()

    async def stop(self) -> None:
        await self.subscription.stop()

    async def on_cancel(self, cancel: CancelRequest) -> None:
        if self._inflight.cancel(cancel.request_id, cancel.reason):
            log.info("cancel request_id=%s reason=%s", cancel.request_id, cancel.reason)
