"""``on_heartbeat``: mirror each core ``WorkerStatus`` heartbeat into ``WORKER_STATUS_BUCKET``.

Workers publish heartbeats on core subjects (``heartbeat_subject``) and do not write the
bucket themselves yet; model-admin does it for them (queue group ``MODEL_ADMIN_QUEUE``:
one instance writes each heartbeat). A malformed heartbeat is dropped and logged.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.kv import KeyValue

from contracts import subjects
from contracts.codec import DecodeErrors, decode_worker_status

log = logging.getLogger(__name__)


class HeartbeatMirror:
    def __init__(self, nc: NatsClient, kv: KeyValue) -> None:
        self._nc = nc
        self._kv = kv
        self._sub: Subscription | None = None
        self.mirrored = 0

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(
            subjects.HEARTBEAT_SUBJECTS, queue=subjects.MODEL_ADMIN_QUEUE, cb=self.on_heartbeat
        )

    async def on_heartbeat(self, msg: Msg) -> None:
        try:
            status = decode_worker_status(msg.data)
        except DecodeErrors as exc:
            log.warning("malformed heartbeat on %s dropped: %s", msg.subject, exc)
            return
        try:
            await self._kv.put(subjects.subject_token(status.worker_id), msg.data)
            self.mirrored += 1
        except Exception as exc:
            log.warning("heartbeat of %s not mirrored: %r", status.worker_id, exc)

    async def stop(self, timeout_s: float = 0.0) -> None:
        """Unsubscribe (a mirrored heartbeat is written at once: nothing to wait for)."""
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception as exc:
                log.debug("heartbeat unsubscribe: %r", exc)
            self._sub = None
