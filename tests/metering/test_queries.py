"""``UsageQueries``: totals, per-day / per-model / per-user breakdowns, filters, ranges,
and keyset pages of raw records (PostgreSQL and SQLite)."""

from __future__ import annotations

import pytest

from contracts.errors import ErrorCode
from contracts.usage import TTFT_BUCKETS_MS, ListUsageRecords, RecordCursor, UsageQuery
from metering.errors import DomainError
from metering.queries import UsageQueries, ttft_percentile
from metering.recorder import UsageRecorder
from tests.metering import events_factory as ev
from tests.metering.events_factory import DAY_S, T0

pytestmark = pytest.mark.nats


async def seed(recorder: UsageRecorder) -> None:
    """Three days, two users, two models; one request still running, one failed."""
    await recorder.record(
        [
            # day 1: u1 on m (2 completed), u2 on big (1 completed)
            ev.accepted("a1", "u1", model="m", at=T0 + 10),
            ev.completed("a1", "u1", model="m", at=T0 + 11, prompt=10, completion=5, ttft_ms=20),
            ev.accepted("a2", "u1", model="m", at=T0 + 20),
            ev.completed("a2", "u1", model="m", at=T0 + 21, prompt=1, completion=1, ttft_ms=40),
            ev.accepted("b1", "u2", model="big", at=T0 + 30),
            ev.completed("b1", "u2", model="big", at=T0 + 31, prompt=100, completion=50),
            # day 2: u1 on big cancelled, u1 on m failed
            ev.accepted("a3", "u1", model="big", at=T0 + DAY_S + 5),
            ev.cancelled("a3", "u1", model="big", at=T0 + DAY_S + 6, prompt=3, completion=4),
            ev.accepted("a4", "u1", model="m", at=T0 + DAY_S + 7),
            ev.failed("a4", "u1", model="m", at=T0 + DAY_S + 8),
            # day 3: u2 running
            ev.accepted("b2", "u2", model="m", at=T0 + 2 * DAY_S + 1),
        ]
    )


async def test_totals_and_breakdowns_for_everyone(
    recorder: UsageRecorder, queries: UsageQueries
) -> None:
    await seed(recorder)
    summary = await queries.summary(UsageQuery(start=T0, end=T0 + 3 * DAY_S, by_user=True))
    t = summary.totals
    assert (t.requests, t.completed, t.failed, t.cancelled, t.in_progress) == (6, 3, 1, 1, 1)
    assert (t.input_tokens, t.output_tokens, t.total_tokens) == (114, 60, 174)
    assert t.avg_ttft_ms == pytest.approx((20 + 40 + 10) / 3)
    # 10 and 20 in the 0-25 ms bucket, 40 in 25-50: interpolated inside the bucket
    assert t.p50_ttft_ms == pytest.approx(25 * 1.5 / 2)
    assert t.p95_ttft_ms == pytest.approx(25 + 25 * 0.85)
    assert [(d.day, d.requests, d.total_tokens) for d in summary.by_day] == [
        ("2025-01-01", 3, 167),
        ("2025-01-02", 2, 7),
        ("2025-01-03", 1, 0),
    ]
    assert [(m.model, m.requests, m.total_tokens) for m in summary.by_model] == [
        ("big", 2, 157),
        ("m", 4, 17),
    ]
    assert [(u.user_id, u.requests, u.total_tokens) for u in summary.by_user] == [
        ("u2", 2, 150),
        ("u1", 4, 24),
    ]


async def test_user_and_model_filters_and_range(
    recorder: UsageRecorder, queries: UsageQueries
) -> None:
    await seed(recorder)
    mine = await queries.summary(UsageQuery(start=T0, end=T0 + 3 * DAY_S, user_id="u1"))
    assert (mine.totals.requests, mine.totals.total_tokens) == (4, 24)
    assert mine.by_user == ()
    assert {m.model for m in mine.by_model} == {"m", "big"}

    mine_on_m = await queries.summary(
        UsageQuery(start=T0, end=T0 + 3 * DAY_S, user_id="u1", model="m")
    )
    assert (mine_on_m.totals.requests, mine_on_m.totals.failed) == (3, 1)

    # [start, end): day 2 only
    day2 = await queries.summary(UsageQuery(start=T0 + DAY_S, end=T0 + 2 * DAY_S))
    assert [d.day for d in day2.by_day] == ["2025-01-02"]
    assert day2.totals.requests == 2

    nobody = await queries.summary(UsageQuery(start=T0, end=T0 + 3 * DAY_S, user_id="u-none"))
    assert nobody.totals.requests == 0
    assert nobody.totals.avg_latency_ms is None
    assert (nobody.by_day, nobody.by_model) == ((), ())


async def test_empty_range_is_invalid(queries: UsageQueries) -> None:
    with pytest.raises(DomainError) as info:
        await queries.summary(UsageQuery(start=T0, end=T0))
    assert info.value.code is ErrorCode.INVALID_REQUEST


async def test_record_pages_cover_every_row_once_in_order(
    recorder: UsageRecorder, queries: UsageQueries
) -> None:
    # Several requests share a timestamp: the cursor must break ties by request id.
    events = [ev.accepted(f"r{i:03d}", "u1", at=T0 + (i // 4)) for i in range(50)]
    events.append(ev.accepted("other", "u2", at=T0 + 1))
    await recorder.record(events)
    seen: list[str] = []
    after: RecordCursor | None = None
    pages = 0
    while True:
        page = await queries.records(
            ListUsageRecords(start=T0, end=T0 + DAY_S, user_id="u1", after=after, limit=7)
        )
        pages += 1
        seen.extend(r.request_id for r in page.records)
        assert len(page.records) <= 7
        if page.next is None:
            break
        after = page.next
    assert seen == [f"r{i:03d}" for i in range(50)]
    assert pages == 8  # 7 full pages and one of 1

    everyone = await queries.records(ListUsageRecords(start=T0, end=T0 + DAY_S, limit=1000))
    assert len(everyone.records) == 51
    assert everyone.next is None


async def test_record_fields(recorder: UsageRecorder, queries: UsageQueries) -> None:
    await recorder.record(
        [ev.accepted("r1", "u1", at=T0, api_key_id="k1"), ev.completed("r1", "u1", at=T0 + 1)]
    )
    page = await queries.records(ListUsageRecords(start=T0, end=T0 + 1, model="m"))
    (record,) = page.records
    assert record.request_id == "r1"
    assert (record.api_key_id, record.status, record.error_code) == ("k1", "completed", None)
    assert (record.input_tokens, record.output_tokens) == (7, 3)
    assert (record.started_at, record.finished_at) == (T0, T0 + 1)
    assert (await queries.records(ListUsageRecords(start=T0, end=T0 + 1, model="x"))).records == ()


def test_ttft_percentile_from_the_histogram() -> None:
    bounds = len(TTFT_BUCKETS_MS)
    assert ttft_percentile([0] * bounds, 0, 0.5) is None
    # 100 values: 50 up to 25 ms, 40 more up to 50 ms, 10 more up to 100 ms
    cumulative = [50, 90, *([100] * (bounds - 2))]
    assert ttft_percentile(cumulative, 100, 0.50) == pytest.approx(25.0)
    assert ttft_percentile(cumulative, 100, 0.70) == pytest.approx(25 + 25 * 20 / 40)
    assert ttft_percentile(cumulative, 100, 0.95) == pytest.approx(50 + 50 * 5 / 10)
    # values beyond the last bound report the bound
    assert ttft_percentile([0] * bounds, 3, 0.5) == TTFT_BUCKETS_MS[-1]
