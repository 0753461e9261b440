"""``UsageQueries``: what the usage subjects answer, read from the usage records.

A range is ``[start, end)`` over ``started_at`` (when the request was accepted). Summaries
aggregate in the database (one query per breakdown, over the same filter); record pages
use a keyset cursor on ``(started_at, request_id)`` so a page costs the same at row 10 and
at row 1,000,000 and no page is skipped or repeated while rows are appended.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from contracts.usage import (
    TTFT_BUCKETS_MS,
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
from llmchat_sql.database import Database
from metering.errors import invalid
from metering.recorder import TABLE

USER_BREAKDOWN_LIMIT = 1000
"""At most this many users in ``UsageSummary.by_user`` (the largest first)."""

_c = TABLE.c


def _count_where(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


_TOKENS = sa.func.coalesce(sa.func.sum(_c.input_tokens + _c.output_tokens), 0)
_AGGREGATES: tuple[sa.ColumnElement[Any], ...] = (
    sa.func.count().label("requests"),
    _count_where(_c.status == "completed").label("completed"),
    _count_where(_c.status == "failed").label("failed"),
    _count_where(_c.status == "cancelled").label("cancelled"),
    _count_where(_c.status == "accepted").label("in_progress"),
    sa.func.coalesce(sa.func.sum(_c.input_tokens), 0).label("input_tokens"),
    sa.func.coalesce(sa.func.sum(_c.output_tokens), 0).label("output_tokens"),
    _TOKENS.label("total_tokens"),
    sa.func.avg(sa.case((_c.status == "completed", _c.ttft_ms))).label("avg_ttft_ms"),
    _count_where((_c.status == "completed") & (_c.ttft_ms.is_not(None))).label("ttft_count"),
    sa.func.avg(_c.latency_ms).label("avg_latency_ms"),
    # TTFT percentiles from a histogram counted in the database: one query whatever the
    # number of requests, the same SQL on SQLite and PostgreSQL.
    *(
        _count_where(
            (_c.status == "completed") & (_c.ttft_ms.is_not(None)) & (_c.ttft_ms <= bound)
        ).label(f"ttft_le_{index}")
        for index, bound in enumerate(TTFT_BUCKETS_MS)
    ),
)


def ttft_percentile(cumulative: list[int], total: int, share: float) -> float | None:
    """The ``share`` percentile from cumulative bucket counts (``cumulative[i]``: values
    at most ``TTFT_BUCKETS_MS[i]``; ``total``: all values), interpolated linearly inside
    its bucket; a value past the last bound reports that bound."""
    if total <= 0:
        return None
    rank = share * total
    lower_bound, lower_count = 0.0, 0
    for bound, count in zip(TTFT_BUCKETS_MS, cumulative, strict=True):
        if count >= rank:
            inside = count - lower_count
            fraction = (rank - lower_count) / inside if inside else 1.0
            return lower_bound + (bound - lower_bound) * fraction
        lower_bound, lower_count = bound, count
    return TTFT_BUCKETS_MS[-1]


def _counts(row: Any) -> dict[str, Any]:
    """The ``UsageCounts`` fields of an aggregate row (PostgreSQL sums are Decimals)."""
    cumulative = [int(getattr(row, f"ttft_le_{i}")) for i in range(len(TTFT_BUCKETS_MS))]
    timed = int(row.ttft_count)
    return {
        "p50_ttft_ms": ttft_percentile(cumulative, timed, 0.50),
        "p95_ttft_ms": ttft_percentile(cumulative, timed, 0.95),
        "requests": int(row.requests),
        "completed": int(row.completed),
        "failed": int(row.failed),
        "cancelled": int(row.cancelled),
        "in_progress": int(row.in_progress),
        "input_tokens": int(row.input_tokens),
        "output_tokens": int(row.output_tokens),
        "total_tokens": int(row.total_tokens),
        "avg_ttft_ms": None if row.avg_ttft_ms is None else float(row.avg_ttft_ms),
        "avg_latency_ms": None if row.avg_latency_ms is None else float(row.avg_latency_ms),
    }


def _filters(
    start: float, end: float, user_id: str | None, model: str | None
) -> list[sa.ColumnElement[bool]]:
    if not end > start:
        raise invalid("the range is empty: end must be after start")
    conditions = [_c.started_at >= start, _c.started_at < end]
    if user_id is not None:
        conditions.append(_c.user_id == user_id)
    if model is not None:
        conditions.append(_c.model == model)
    return conditions


def _record(row: Any) -> UsageRecord:
    return UsageRecord(
        request_id=row.request_id,
        user_id=row.user_id,
        api_key_id=row.api_key_id,
        model=row.model,
        status=row.status,
        error_code=row.error_code,
        input_tokens=int(row.input_tokens),
        output_tokens=int(row.output_tokens),
        ttft_ms=row.ttft_ms,
        latency_ms=row.latency_ms,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class UsageQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def summary(self, query: UsageQuery) -> UsageSummary:
        where = _filters(query.start, query.end, query.user_id, query.model)
        async with self._db.read() as s:
            totals = (await s.execute(sa.select(*_AGGREGATES).where(*where))).one()
            days = await s.execute(
                sa.select(_c.day, *_AGGREGATES).where(*where).group_by(_c.day).order_by(_c.day)
            )
            models = await s.execute(
                sa.select(_c.model, *_AGGREGATES)
                .where(*where)
                .group_by(_c.model)
                .order_by(_TOKENS.desc(), _c.model)
            )
            users: list[Any] = []
            if query.by_user:
                users = list(
                    await s.execute(
                        sa.select(_c.user_id, *_AGGREGATES)
                        .where(*where)
                        .group_by(_c.user_id)
                        .order_by(_TOKENS.desc(), _c.user_id)
                        .limit(USER_BREAKDOWN_LIMIT)
                    )
                )
        return UsageSummary(
            totals=UsageCounts(**_counts(totals)),
            by_day=tuple(DayUsage(day=row.day, **_counts(row)) for row in days),
            by_model=tuple(ModelUsage(model=row.model, **_counts(row)) for row in models),
            by_user=tuple(UserUsage(user_id=row.user_id, **_counts(row)) for row in users),
        )

    async def records(self, request: ListUsageRecords) -> UsageRecordPage:
        where = _filters(request.start, request.end, request.user_id, request.model)
        if request.after is not None:
            after = request.after
            where.append(
                sa.tuple_(_c.started_at, _c.request_id)
                > sa.tuple_(sa.literal(after.started_at), sa.literal(after.request_id))
            )
        statement = (
            sa.select(TABLE)
            .where(*where)
            .order_by(_c.started_at, _c.request_id)
            .limit(request.limit + 1)
        )
        async with self._db.read() as s:
            rows = list(await s.execute(statement))
        more = len(rows) > request.limit
        records = tuple(_record(row) for row in rows[: request.limit])
        cursor = None
        if more:
            last = records[-1]
            cursor = RecordCursor(started_at=last.started_at, request_id=last.request_id)
        return UsageRecordPage(records=records, next=cursor)
