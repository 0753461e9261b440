"""``on_cancel``: core subscription on every request's cancel subject."""

from __future__ import annotations

import logging

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from contracts import subjects
from contracts.codec import DecodeErrors, decode_cancel
from inference_worker.inflight import InFlight

log = logging.getLogger(__name__)


class CancelSubscriber:
    """Cancels the owning generation (its task) or remembers the id for a while."""

    def __init__(self, nc: NatsClient, inflight: InFlight) -> None:
        self._nc = nc
        self._inflight = inflight
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(subjects.CANCEL_SUBJECTS, cb=self.on_cancel)

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            try:
                await sub.unsubscribe()
            except Exception as exc:  # connection already closed
                log.debug("cancel unsubscribe: %r", exc)

    async def on_cancel(self, msg: Msg) -> None:
        try:
            cancel = decode_cancel(msg.data)
        except DecodeErrors as exc:
            log.warning("malformed cancel on %s ignored: %s", msg.subject, exc)
            return
        if self._inflight.cancel(cancel.request_id, cancel.reason):
            log.info("cancel request_id=%s reason=%s", cancel.request_id, cancel.reason)
