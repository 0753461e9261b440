"""``FakeMetering``: the ``Metering`` Protocol in memory, for unit apps of the usage routes.

It keeps every query it was asked (so tests see whose usage the api asked for), answers
summaries with canned counts, and pages through an in-memory list of records exactly as
metering does (sorted by ``(started_at, request_id)``, keyset cursor)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chat_api.errors import ApiError
from chat_api.metering_client import metering_unavailable
from contracts.errors import ErrorCode
from contracts.usage import (
    DayUsage,
    ListUsageRecords,
    ModelUsage,
    RecordCursor,
    UsageCounts,
    UsageQuery,
    UsageRecord,
    UsageRecordPage,
    UsageSummary,
    UserUsage,
)

T0 = 1_735_689_600.0
"""2025-01-01T00:00:00Z."""


def record(index: int, user_id: str = "alice", **changes: object) -> UsageRecord:
    values: dict[str, object] = {
        "request_id": f"r{index:07d}",
        "user_id": user_id,
        "api_key_id": None,
        "model": "gemma3-270m",
        "status": "completed",
        "error_code": None,
        "input_tokens": 10,
        "output_tokens": index % 50,
        "ttft_ms": 12.5,
        "latency_ms": 250.0,
        "started_at": T0 + index,
        "finished_at": T0 + index + 0.25,
    }
    return UsageRecord(**(values | changes))  # type: ignore[arg-type]


@dataclass
class FakeMetering:
    records_list: list[UsageRecord] = field(default_factory=list)
    summaries: list[UsageQuery] = field(default_factory=list)
    pages: list[ListUsageRecords] = field(default_factory=list)
    down: bool = False
    fail_after_pages: int | None = None
    """Answer this many record pages, then behave as if metering went away."""

    async def summary(self, query: UsageQuery) -> UsageSummary:
        self.summaries.append(query)
        if self.down:
            raise metering_unavailable()
        counts = UsageCounts(requests=3, completed=3, input_tokens=30, output_tokens=6)
        return UsageSummary(
            totals=counts,
            by_day=(DayUsage(day="2025-01-01", requests=3, completed=3, total_tokens=36),),
            by_model=(ModelUsage(model="gemma3-270m", requests=3, total_tokens=36),),
            by_user=(UserUsage(user_id="alice", requests=3),) if query.by_user else (),
        )

    async def records(self, request: ListUsageRecords) -> UsageRecordPage:
        self.pages.append(request)
        if self.down or (
            self.fail_after_pages is not None and len(self.pages) > self.fail_after_pages
        ):
            raise metering_unavailable()
        if request.end <= request.start:
            raise ApiError(400, ErrorCode.INVALID_REQUEST, "empty range")
        rows = sorted(
            (
                r
                for r in self.records_list
                if request.start <= r.started_at < request.end
                and (request.user_id is None or r.user_id == request.user_id)
                and (request.model is None or r.model == request.model)
            ),
            key=lambda r: (r.started_at, r.request_id),
        )
        if request.after is not None:
            after = (request.after.started_at, request.after.request_id)
            rows = [r for r in rows if (r.started_at, r.request_id) > after]
        page = rows[: request.limit]
        more = len(rows) > request.limit
        cursor = (
            RecordCursor(started_at=page[-1].started_at, request_id=page[-1].request_id)
            if more
            else None
        )
        return UsageRecordPage(records=tuple(page), next=cursor)
