"""``UsageRecorder``: one row per request, whatever order and however often events come
(PostgreSQL and SQLite)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from contracts.events import ChatEvent
from llmchat_sql.database import Database
from metering.models import UsageRecordRow
from metering.recorder import UsageRecorder, utc_day
from tests.metering import events_factory as ev
from tests.metering.events_factory import T0

pytestmark = pytest.mark.nats


async def rows(db: Database) -> dict[str, Any]:
    async with db.read() as s:
        result = await s.execute(sa.select(UsageRecordRow))
        return {row.request_id: row for row in result.scalars()}


async def test_accepted_then_completed_makes_one_finished_row(
    recorder: UsageRecorder, db: Database
) -> None:
    first = await recorder.record([ev.accepted("r1", "u1", at=T0, api_key_id="k1")])
    assert (first.changed, first.duplicates) == (1, 0)
    row = (await rows(db))["r1"]
    assert (row.status, row.input_tokens, row.output_tokens) == ("accepted", 0, 0)
    assert row.finished_at is None

    await recorder.record([ev.completed("r1", "u1", at=T0 + 2, prompt=11, completion=5)])
    row = (await rows(db))["r1"]
    assert row.status == "completed"
    assert (row.input_tokens, row.output_tokens) == (11, 5)
    assert (row.ttft_ms, row.latency_ms) == (10.0, 200.0)
    assert row.api_key_id == "k1"
    assert (row.started_at, row.accepted_at, row.finished_at) == (T0, T0, T0 + 2)
    assert row.day == "2025-01-01"


async def test_terminal_before_accepted_still_one_row_with_the_accepted_time(
    recorder: UsageRecorder, db: Database
) -> None:
    await recorder.record([ev.completed("r1", at=T0 + 1.0, latency_ms=400.0)])
    row = (await rows(db))["r1"]
    assert row.status == "completed"
    assert row.started_at == pytest.approx(T0 + 0.6)
    assert row.api_key_id is None

    result = await recorder.record([ev.accepted("r1", at=T0 + 0.5, api_key_id="k9")])
    assert result.changed == 1
    row = (await rows(db))["r1"]
    assert row.status == "completed"  # the accepted event never un-finishes a request
    assert (row.started_at, row.api_key_id, row.input_tokens) == (T0 + 0.5, "k9", 7)


async def test_redelivery_and_second_terminal_change_nothing(
    recorder: UsageRecorder, db: Database
) -> None:
    events: list[ChatEvent] = [ev.accepted("r1", at=T0), ev.completed("r1", at=T0 + 1)]
    assert (await recorder.record(events)).changed == 2
    again = await recorder.record(events)
    assert (again.changed, again.duplicates) == (0, 2)
    # The api reports the worker lost after the worker said completed: ignored.
    late = await recorder.record([ev.failed("r1", at=T0 + 5)])
    assert late.duplicates == 1
    row = (await rows(db))["r1"]
    assert (row.status, row.input_tokens, row.output_tokens, row.error_code) == (
        "completed",
        7,
        3,
        None,
    )
    assert len(await rows(db)) == 1


async def test_failed_and_cancelled_record_code_and_tokens(
    recorder: UsageRecorder, db: Database
) -> None:
    await recorder.record(
        [
            ev.accepted("f1", at=T0),
            ev.failed("f1", at=T0 + 1, code="timeout"),
            ev.accepted("c1", at=T0),
            ev.cancelled("c1", at=T0 + 1, prompt=4, completion=9),
        ]
    )
    found = await rows(db)
    assert (found["f1"].status, found["f1"].error_code, found["f1"].output_tokens) == (
        "failed",
        "timeout",
        0,
    )
    assert found["f1"].ttft_ms is None
    assert (found["c1"].status, found["c1"].error_code) == ("cancelled", "client_cancelled")
    assert (found["c1"].input_tokens, found["c1"].output_tokens) == (4, 9)


async def test_accepted_and_terminal_of_one_request_in_one_batch(
    recorder: UsageRecorder, db: Database
) -> None:
    result = await recorder.record(
        [ev.completed("r1", at=T0 + 1), ev.accepted("r1", at=T0), ev.accepted("r1", at=T0)]
    )
    assert (result.changed, result.duplicates) == (2, 1)
    row = (await rows(db))["r1"]
    assert (row.status, row.started_at) == ("completed", T0)


def test_utc_day() -> None:
    assert utc_day(T0) == "2025-01-01"
    assert utc_day(T0 - 0.001) == "2024-12-31"


async def test_retention_removes_the_records_started_before_the_cutoff(
    recorder: UsageRecorder, db: Database
) -> None:
    await recorder.record(
        [
            ev.accepted("old", "u1", at=T0),
            ev.accepted("edge", "u1", at=T0 + 100),
            ev.accepted("new", "u1", at=T0 + 200),
        ]
    )
    assert await recorder.remove_older_than(T0 + 100) == 1
    assert sorted(await rows(db)) == ["edge", "new"]
    assert await recorder.remove_older_than(T0 + 100) == 0
