"""Usage queries answered by the metering service (core request-reply, queue group
``METERING_QUEUE``; every reply is a ``contracts.rpc.Reply``).

Times are UNIX seconds (float); a range is ``[start, end)`` over the time a request was
accepted. Days are UTC calendar days (``YYYY-MM-DD``). ``user_id=None`` means every user:
metering trusts its caller (the api) to allow that only to admins.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from contracts.subjects import SCHEMA_VERSION

UsageStatus = Literal["accepted", "completed", "failed", "cancelled"]
"""``accepted``: no terminal event yet (running, or its end not recorded yet)."""

MAX_RECORDS_PAGE = 1000
"""Largest ``ListUsageRecords.limit``: a page (about 330 bytes a record) stays well under
NATS's default 1 MB payload even with long model names."""

Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class UsageQuery(msgspec.Struct, frozen=True, kw_only=True):
    """``USAGE_SUMMARY``: aggregate the records in ``[start, end)``."""

    start: float
    end: float
    user_id: Identifier | None = None
    model: Identifier | None = None
    by_user: bool = False
    """Also break the usage down per user (the largest users first, at most 1,000)."""
    v: int = SCHEMA_VERSION


TTFT_BUCKETS_MS: tuple[float, ...] = (
    25,
    50,
    100,
    200,
    300,
    500,
    750,
    1000,
    1500,
    2000,
    3000,
    5000,
    10000,
    20000,
    60000,
)
"""Upper bounds of the time-to-first-token histogram the percentiles are read from (the
last bucket is open: a value above it reports the bound)."""


class UsageCounts(msgspec.Struct, frozen=True, kw_only=True):
    requests: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    in_progress: int = 0
    """Requests with no terminal event recorded (yet)."""
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    avg_ttft_ms: float | None = None
    """Over the completed requests; None when there are none."""
    p50_ttft_ms: float | None = None
    """Median time to first token of the completed requests, from a histogram of
    ``TTFT_BUCKETS_MS`` (interpolated inside a bucket); None when there are none."""
    p95_ttft_ms: float | None = None
    avg_latency_ms: float | None = None
    """Over the requests that ended; None when none did."""


class DayUsage(UsageCounts, frozen=True, kw_only=True):
    day: str
    """UTC calendar day, ``YYYY-MM-DD``."""


class ModelUsage(UsageCounts, frozen=True, kw_only=True):
    model: str


class UserUsage(UsageCounts, frozen=True, kw_only=True):
    user_id: str


class UsageSummary(msgspec.Struct, frozen=True, kw_only=True):
    totals: UsageCounts
    by_day: tuple[DayUsage, ...] = ()
    """Days with at least one request, oldest first."""
    by_model: tuple[ModelUsage, ...] = ()
    """Most tokens first."""
    by_user: tuple[UserUsage, ...] = ()
    """Only when asked (``by_user``); most tokens first."""


class RecordCursor(msgspec.Struct, frozen=True, kw_only=True):
    """Where a page ended: records sort by ``(started_at, request_id)``."""

    started_at: float
    request_id: str


class ListUsageRecords(msgspec.Struct, frozen=True, kw_only=True):
    """``USAGE_RECORDS``: one page of raw records in ``[start, end)``, after ``after``."""

    start: float
    end: float
    user_id: Identifier | None = None
    model: Identifier | None = None
    after: RecordCursor | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_RECORDS_PAGE)] = 1000
    v: int = SCHEMA_VERSION


class UsageRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One request as metering recorded it."""

    request_id: str
    user_id: str
    api_key_id: str | None
    model: str
    status: UsageStatus
    error_code: str | None
    """``failed``: the error code; ``cancelled``: the cancel reason; else None."""
    input_tokens: int
    output_tokens: int
    ttft_ms: float | None
    latency_ms: float | None
    started_at: float
    """When the api accepted the request (or, if that event was never seen, the end time
    minus the latency)."""
    finished_at: float | None


class UsageRecordPage(msgspec.Struct, frozen=True, kw_only=True):
    records: tuple[UsageRecord, ...]
    next: RecordCursor | None = None
    """None: this was the last page."""
