"""Error codes carried on the wire (chunk errors, failed events, HTTP bodies)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    SERVICE_UNAVAILABLE = "service_unavailable"
    MODEL_NOT_FOUND = "model_not_found"
    MODEL_UNAVAILABLE = "model_unavailable"
    CONTEXT_TOO_LONG = "context_length_exceeded"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    WORKER_LOST = "worker_lost"
    ENGINE_ERROR = "engine_error"
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal_error"
