"""Lifecycle events as the api and the workers publish them (for the tests)."""

from __future__ import annotations

import time

from contracts.events import RequestAccepted, RequestCancelled, RequestCompleted, RequestFailed
from contracts.inference import Usage


def accepted(
    request_id: str, conv_id: str | None, user_id: str, text: str = "hi", at: float | None = None
) -> RequestAccepted:
    return RequestAccepted(
        request_id=request_id,
        user_id=user_id,
        model="m",
        message_count=1,
        at=time.time() if at is None else at,
        conversation_id=conv_id,
        user_message=text,
    )


def completed(
    request_id: str,
    conv_id: str | None,
    user_id: str,
    text: str = "hello",
    at: float | None = None,
    usage: Usage | None = None,
) -> RequestCompleted:
    return RequestCompleted(
        request_id=request_id,
        user_id=user_id,
        model="m",
        worker_id="w1",
        finish_reason="stop",
        usage=usage or Usage(prompt_tokens=7, completion_tokens=3),
        ttft_ms=1.0,
        latency_ms=2.0,
        at=time.time() if at is None else at,
        conversation_id=conv_id,
        text=text,
    )


def cancelled(
    request_id: str, conv_id: str | None, user_id: str, text: str, at: float | None = None
) -> RequestCancelled:
    return RequestCancelled(
        request_id=request_id,
        user_id=user_id,
        model="m",
        worker_id="w1",
        reason="client_cancelled",
        usage=Usage(prompt_tokens=7, completion_tokens=2),
        latency_ms=2.0,
        at=time.time() if at is None else at,
        conversation_id=conv_id,
        text=text,
    )


def failed(request_id: str, conv_id: str | None, user_id: str) -> RequestFailed:
    return RequestFailed(
        request_id=request_id,
        user_id=user_id,
        model="m",
        worker_id=None,
        code="worker_lost",
        message="lost",
        latency_ms=2.0,
        at=time.time(),
        conversation_id=conv_id,
    )
