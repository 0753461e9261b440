"""Usage records from lifecycle events, exactly once: one upsert per event, by request id.

Events of one request may come in any order and any number of times (JetStream
redelivers; the api publishes ``accepted`` in the background, so a fast failure can
overtake it). Each event writes only what it knows, and only once:

- ``RequestAccepted`` creates the row (status ``accepted``, no tokens) or, if the terminal
  event came first, adds ``api_key_id`` and the accepted time; a second one changes
  nothing (``WHERE accepted_at IS NULL``).
- ``RequestCompleted`` / ``RequestFailed`` / ``RequestCancelled`` create the row finished or
  finish an ``accepted`` one: status, error code (failed: its code; cancelled: the reason),
  tokens (``usage``; none -> 0), TTFT, latency, finish time. The first terminal event
  wins (``WHERE status = 'accepted'``); a later one (another party reporting the same end,
  a redelivery) changes nothing.

So a redelivered or republished event never counts twice, and totals equal the sum of
what the terminal events reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from contracts.events import (
    ChatEvent,
    RequestAccepted,
    RequestCancelled,
    RequestCompleted,
    RequestFailed,
)
from llmchat_sql.database import Database
from metering.models import UsageRecordRow

TABLE: sa.Table = UsageRecordRow.__table__  # type: ignore[assignment]


def utc_day(at: float) -> str:
    """``YYYY-MM-DD`` of a UNIX time, in UTC."""
    return dt.datetime.fromtimestamp(at, dt.UTC).date().isoformat()


@dataclass
class RecordResult:
    changed: int = 0
    """Events that created or changed a row."""
    duplicates: int = 0
    """Events whose information was already recorded (redelivery, a second terminal)."""


def _terminal_values(event: RequestCompleted | RequestFailed | RequestCancelled) -> dict[str, Any]:
    usage = event.usage
    status: str
    error_code: str | None = None
    ttft_ms: float | None = None
    match event:
        case RequestCompleted():
            status, ttft_ms = "completed", event.ttft_ms
        case RequestFailed():
            status, error_code = "failed", event.code
        case RequestCancelled():
            status, error_code = "cancelled", event.reason
    return {
        "status": status,
        "error_code": error_code,
        "input_tokens": usage.prompt_tokens if usage else 0,
        "output_tokens": usage.completion_tokens if usage else 0,
        "ttft_ms": ttft_ms,
        "latency_ms": event.latency_ms,
        "finished_at": event.at,
    }


class UsageRecorder:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _statement(self, event: ChatEvent) -> sa.Executable:
        table = TABLE
        insert = self._db.insert(table)
        if isinstance(event, RequestAccepted):
            accepted = {
                "api_key_id": event.api_key_id,
                "accepted_at": event.at,
                "started_at": event.at,
                "day": utc_day(event.at),
            }
            return insert.values(
                request_id=event.request_id,
                user_id=event.user_id,
                model=event.model,
                status="accepted",
                input_tokens=0,
                output_tokens=0,
                **accepted,
            ).on_conflict_do_update(
                index_elements=[table.c.request_id],
                set_=accepted,
                where=table.c.accepted_at.is_(None),
            )
        finished = _terminal_values(event)
        started_at = event.at - max(event.latency_ms, 0.0) / 1000.0
        return insert.values(
            request_id=event.request_id,
            user_id=event.user_id,
            model=event.model,
            started_at=started_at,
            day=utc_day(started_at),
            **finished,
        ).on_conflict_do_update(
            index_elements=[table.c.request_id],
            set_=finished,
            where=table.c.status == "accepted",
        )

    async def remove_older_than(self, cutoff: float) -> int:
        """Delete the records of requests started before ``cutoff`` (retention)."""
        async with self._db.write() as s:
            removed = await s.execute(
                sa.delete(UsageRecordRow)
                .where(UsageRecordRow.started_at < cutoff)
                .execution_options(synchronize_session=False)
            )
        return int(removed.rowcount)  # type: ignore[attr-defined]

    async def record(self, events: Sequence[ChatEvent]) -> RecordResult:
        """Record ``events`` in order, in one transaction. Database errors propagate (the
        caller retries: nothing is acknowledged before it is recorded)."""
        result = RecordResult()
        if not events:
            return result
        async with self._db.write() as session:
            for event in events:
                outcome = await session.execute(self._statement(event))
                if outcome.rowcount:  # type: ignore[attr-defined]
                    result.changed += 1
                else:
                    result.duplicates += 1
        return result
