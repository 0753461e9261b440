"""The lifecycle events the api publishes itself (accepted; cancelled when it withdrew a
queued request; failed when it detected the failure), through a ``JetStreamOutbox``: in
order until JetStream stores them, across a JetStream restart, flushed at close."""

from __future__ import annotations

import logging

import msgspec
from nats.js import JetStreamContext

from contracts import codec, subjects
from contracts.events import RequestAccepted, RequestCancelled, RequestFailed
from contracts.inference import ChatRequest
from contracts.tracing import inject_trace_context
from llmchat_bus.outbox import JetStreamOutbox

log = logging.getLogger("chat_api.bus.events")

EVENTS_CLOSE_S = 5.0
"""At close: how long events still unpublished (JetStream unreachable) may take."""


def accepted_event(request: ChatRequest, now: float) -> RequestAccepted:
    """The ``RequestAccepted`` of a request; a conversation chat also carries its new user
    message (the last message of the request), which persistence stores."""
    user_message: str | None = None
    if request.conversation_id is not None and request.messages:
        last = request.messages[-1]
        if last.role == "user":
            user_message = last.content
    return RequestAccepted(
        request_id=request.request_id,
        user_id=request.user_id,
        model=request.model,
        message_count=len(request.messages),
        at=now,
        conversation_id=request.conversation_id,
        user_message=user_message,
        api_key_id=request.api_key_id,
    )


class LifecycleEvents:
    def __init__(self, js: JetStreamContext) -> None:
        self._outbox = JetStreamOutbox(js, log=log)
        self.propagate_trace = False
        """Put the current trace context on the events (tracing on)."""

    def accepted(self, event: RequestAccepted) -> None:
        self._publish(subjects.EVENT_ACCEPTED, event, event.request_id, "accepted")

    def cancelled(self, event: RequestCancelled) -> None:
        self._publish(subjects.EVENT_CANCELLED, event, event.request_id, "cancelled")

    def failed(self, event: RequestFailed) -> None:
        self._publish(subjects.EVENT_FAILED, event, event.request_id, "failed")

    async def flush(self, timeout_s: float) -> bool:
        """True once every event handed in is published (or given up); False on timeout."""
        return await self._outbox.flush(timeout_s)

    async def close(self) -> None:
        await self._outbox.close(EVENTS_CLOSE_S)

    def _publish(self, subject: str, event: msgspec.Struct, request_id: str, kind: str) -> None:
        # One Nats-Msg-Id per request and kind: JetStream drops a second copy.
        headers = {subjects.MSG_ID_HEADER: subjects.event_msg_id(request_id, kind)}
        if self.propagate_trace:
            inject_trace_context(headers)
        self._outbox.publish(subject, codec.encode(event), headers, f"{kind} event {request_id}")
