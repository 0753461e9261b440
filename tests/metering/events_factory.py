"""Lifecycle events as the api and the workers publish them (for the metering tests)."""

from __future__ import annotations

import time

from contracts.events import RequestAccepted, RequestCancelled, RequestCompleted, RequestFailed
from contracts.inference import Usage

DAY_S = 86_400.0
T0 = 1_735_689_600.0
"""2025-01-01T00:00:00Z."""


def accepted(
    request_id: str,
    user_id: str = "u1",
    *,
    model: str = "m",
    at: float | None = None,
    api_key_id: str | None = None,
) -> RequestAccepted:
    return RequestAccepted(
        request_id=request_id,
        user_id=user_id,
        model=model,
        message_count=1,
        at=time.time() if at is None else at,
        api_key_id=api_key_id,
    )


def completed(
    request_id: str,
    user_id: str = "u1",
    *,
    model: str = "m",
    at: float | None = None,
    prompt: int = 7,
    completion: int = 3,
    ttft_ms: float = 10.0,
    latency_ms: float = 200.0,
) -> RequestCompleted:
    return RequestCompleted(
        request_id=request_id,
        user_id=user_id,
        model=model,
        worker_id="w1",
        finish_reason="stop",
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
        ttft_ms=ttft_ms,
        latency_ms=latency_ms,
        at=time.time() if at is None else at,
    )


def cancelled(
    request_id: str,
    user_id: str = "u1",
    *,
    model: str = "m",
    at: float | None = None,
    prompt: int = 7,
    completion: int = 2,
) -> RequestCancelled:
    return RequestCancelled(
        request_id=request_id,
        user_id=user_id,
        model=model,
        worker_id="w1",
        reason="client_cancelled",
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
        latency_ms=100.0,
        at=time.time() if at is None else at,
    )


def failed(
    request_id: str,
    user_id: str = "u1",
    *,
    model: str = "m",
    at: float | None = None,
    code: str = "worker_lost",
) -> RequestFailed:
    return RequestFailed(
        request_id=request_id,
        user_id=user_id,
        model=model,
        worker_id=None,
        code=code,
        message="lost",
        latency_ms=50.0,
        at=time.time() if at is None else at,
    )
