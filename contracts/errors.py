"""Error codes carried on the wire (chunk errors, failed events, HTTP bodies)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    REQUEST_TOO_LARGE = "request_too_large"
    """413 (the body) or 431 (the headers): over MAX_BODY_BYTES / MAX_HEADER_BYTES."""
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
    STREAM_INTERRUPTED = "stream_interrupted"
    """502: chunks of the answer were lost between the worker and the api (a NATS
    reconnect) and the capture stream no longer had them; the api cancelled the generation
    rather than relay a corrupted answer. Retrying the chat is safe."""
    STREAM_EXPIRED = "stream_expired"
    """410: a re-attach (``GET /api/chat/{id}/events``) to an answer whose chunks the
    capture stream no longer holds; the answer is stored in its conversation."""
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal_error"
    REPLY_TOO_LARGE = "reply_too_large"
    """A service's reply would exceed the NATS max payload (a reply it failed to bound:
    a bug); sent instead of it so the caller fails at once. The api answers 500."""
    # --- admission (issue 4: rate limits, queue bound, banned words) ---
    RATE_LIMITED = "rate_limited"
    """429: a requests / tokens per minute or concurrent-streams limit; see Retry-After."""
    MODEL_OVERLOADED = "model_overloaded"
    """503: the model's queue is deeper than MAX_QUEUE_DEPTH; see Retry-After."""
    OVERLOADED = "overloaded"
    """503: this api instance's event loop runs more than API_MAX_LOOP_LAG_MS behind (more
    streams than its core relays in time); see Retry-After. Its open streams go on."""
    CONTENT_BLOCKED = "content_blocked"
    """400: the input contains a word of the BANNED_WORDS list."""
    # --- model admin (issue 5: profiles, compatibility, swaps) ---
    PROFILE_INVALID = "profile_invalid"
    """422: a profile that does not validate; the message lists every problem."""
    PROFILE_INCOMPATIBLE = "profile_incompatible"
    """409: the profile does not fit the hardware; the message carries the numbers."""
    PROFILE_READ_ONLY = "profile_read_only"
    """409: a version-controlled profile (or id / alias) cannot be replaced through the api."""
    HARDWARE_UNKNOWN = "hardware_unknown"
    """409: no live worker of the group reports its hardware and none was given."""
