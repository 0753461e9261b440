"""``on_heartbeat``: mirror each core ``WorkerStatus`` heartbeat into ``WORKER_STATUS_BUCKET``.

Workers publish heartbeats on core subjects (``heartbeat_subject``) and do not write the
bucket themselves yet; model-admin does it for them (queue group ``MODEL_ADMIN_QUEUE``:
one instance writes each heartbeat), on the service's FastStream broker. A malformed
heartbeat is dropped and logged.
"""

from __future__ import annotations

import logging

from nats.js.kv import KeyValue

from contracts import subjects
from contracts.codec import decode_worker_status
from contracts.workers import WorkerStatus
from llmchat_bus.broker import ServiceBroker, Subscription

log = logging.getLogger(__name__)

Heartbeat = tuple[WorkerStatus, bytes]
"""A decoded heartbeat with its bytes (mirrored as they came: no field lost)."""


def decode_heartbeat(data: bytes) -> Heartbeat:
    return decode_worker_status(data), data


class HeartbeatMirror:
    def __init__(self, broker: ServiceBroker, kv: KeyValue) -> None:
        self._kv = kv
        self.mirrored = 0
        self.subscription = Subscription(
            broker,
            subjects.HEARTBEAT_SUBJECTS,
            payload=WorkerStatus,
            decode=decode_heartbeat,
            handle=self.on_heartbeat,
            malformed="malformed heartbeat on %s dropped: %s",
            logger=log,
            queue=subjects.MODEL_ADMIN_QUEUE,
            description=f"Mirrored into the {subjects.WORKER_STATUS_BUCKET} bucket.",
        )

    async def start(self) -> None:
        await self.subscription.start()

    async def on_heartbeat(self, heartbeat: Heartbeat) -> None:
        status, data = heartbeat
        try:
            await self._kv.put(subjects.subject_token(status.worker_id), data)
            self.mirrored += 1
        except Exception as exc:
            log.warning("heartbeat of %s not mirrored: %r", status.worker_id, exc)

    async def stop(self, timeout_s: float = 0.0) -> None:
        """Unsubscribe (a mirrored heartbeat is written at once: nothing to wait for)."""
        await self.subscription.stop()
