"""Lifecycle events on the durable ``CHAT_EVENTS`` stream.

Every event carries ``request_id``; publishers set ``Nats-Msg-Id`` to
``event_msg_id(request_id, kind)`` so a request has at most one accepted and one
terminal (completed / failed / cancelled) event, and consumers upsert by request id.
"""

from __future__ import annotations

import msgspec

from contracts.inference import CancelReason, FinishReason, Usage
from contracts.subjects import SCHEMA_VERSION


class RequestAccepted(msgspec.Struct, frozen=True, kw_only=True, tag="accepted"):
    """Published by the api once the request is on the request stream."""

    request_id: str
    user_id: str
    model: str
    message_count: int
    at: float
    conversation_id: str | None = None
    user_message: str | None = None
    """The new user message of a conversation chat, stored by persistence."""
    api_key_id: str | None = None
    """The API key the caller authenticated with (None: a JWT); metering records it."""
    v: int = SCHEMA_VERSION


class RequestCompleted(msgspec.Struct, frozen=True, kw_only=True, tag="completed"):
    request_id: str
    user_id: str
    model: str
    worker_id: str
    finish_reason: FinishReason
    usage: Usage
    ttft_ms: float
    latency_ms: float
    at: float
    conversation_id: str | None = None
    text: str = ""
    """The whole answer (persistence stores it with the conversation)."""
    v: int = SCHEMA_VERSION


class RequestFailed(msgspec.Struct, frozen=True, kw_only=True, tag="failed"):
    request_id: str
    user_id: str
    model: str
    worker_id: str | None
    code: str
    message: str
    usage: Usage | None = None
    latency_ms: float
    at: float
    conversation_id: str | None = None
    text: str = ""
    v: int = SCHEMA_VERSION


class RequestCancelled(msgspec.Struct, frozen=True, kw_only=True, tag="cancelled"):
    request_id: str
    user_id: str
    model: str
    worker_id: str | None
    reason: CancelReason
    usage: Usage | None = None
    latency_ms: float
    at: float
    conversation_id: str | None = None
    text: str = ""
    """The answer as far as it got."""
    v: int = SCHEMA_VERSION


ChatEvent = RequestAccepted | RequestCompleted | RequestFailed | RequestCancelled
