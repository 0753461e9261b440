"""NATS adapters of the generation sinks.

Chunks go out as core publishes on the request's chunk subject (the relay never waits
for storage; the INFERENCE_CHUNKS stream captures them). Lifecycle events go to
JetStream with ``Nats-Msg-Id`` so a retried publish is stored once, through the worker's
``JetStreamOutbox`` (``llmchat_bus.outbox``).
"""

from __future__ import annotations

import logging

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from contracts import subjects
from contracts.admin import SwapStatus
from contracts.codec import encode
from contracts.events import (
    ChatEvent,
    RequestAccepted,
    RequestCancelled,
    RequestCompleted,
    RequestFailed,
)
from contracts.inference import ChatRequest, Chunk
from contracts.tracing import inject_trace_context
from llmchat_bus.outbox import JetStreamOutbox

log = logging.getLogger(__name__)

_EVENT_ROUTES: dict[type, tuple[str, str]] = {
    RequestAccepted: (subjects.EVENT_ACCEPTED, "accepted"),
    RequestCompleted: (subjects.EVENT_COMPLETED, "completed"),
    RequestFailed: (subjects.EVENT_FAILED, "failed"),
    RequestCancelled: (subjects.EVENT_CANCELLED, "cancelled"),
}


class NatsChunkSink:
    """Core-NATS publisher of one request's chunks (one per request, two slots)."""

    __slots__ = ("_publish", "_subject")

    def __init__(self, nc: NatsClient, request: ChatRequest) -> None:
        self._publish = nc.publish
        self._subject = subjects.chunk_subject(request.relay, request.request_id)

    async def send(self, chunk: Chunk) -> None:
        await self._publish(self._subject, encode(chunk))


class JetStreamEventSink:
    """Lifecycle events, de-duplicated by request id, through the worker's outbox: a
    generation hands its event over and ends (its slot is free); the outbox publishes it
    until JetStream stores it, even across a JetStream restart."""

    def __init__(self, outbox: JetStreamOutbox, *, propagate_trace: bool = False) -> None:
        self._outbox = outbox
        self._propagate_trace = propagate_trace
        """Put the current trace context (the generation's span) on each event."""

    async def publish(self, event: ChatEvent) -> None:
        subject, kind = _EVENT_ROUTES[type(event)]
        headers = {subjects.MSG_ID_HEADER: subjects.event_msg_id(event.request_id, kind)}
        if self._propagate_trace:
            inject_trace_context(headers)
        self._outbox.publish(subject, encode(event), headers, f"{kind} event {event.request_id}")


class JetStreamSwapStatusSink:
    """Publishes this worker's ``SwapStatus`` on ``swap_status_subject(worker_id)``."""

    def __init__(self, js: JetStreamContext, worker_id: str, *, timeout_s: float = 5.0) -> None:
        self._js = js
        self._subject = subjects.swap_status_subject(worker_id)
        self._timeout_s = timeout_s

    async def report(self, status: SwapStatus) -> None:
        msg_id = f"{status.command_id}:{status.worker_id}:{status.phase}"
        await self._js.publish(
            self._subject,
            encode(status),
            timeout=self._timeout_s,
            headers={subjects.MSG_ID_HEADER: msg_id},
        )
