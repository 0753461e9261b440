"""The table metering owns (SQLAlchemy 2 declarative; one schema for PostgreSQL and
SQLite). Times are UNIX seconds (float, double precision), as on the wire.

Strings have no length bound and token counts are 64-bit, so no value an event can carry
is refused by the database (a refused row would be a poison event).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from llmchat_sql.models import named_metadata

STATUSES = ("accepted", "completed", "failed", "cancelled")


class Base(DeclarativeBase):
    metadata = named_metadata()


class UsageRecordRow(Base):
    """One chat request. Created by whichever of its events comes first, completed by the
    terminal one; the primary key on ``request_id`` is what makes it exactly once."""

    __tablename__ = "usage_records"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('accepted', 'completed', 'failed', 'cancelled')", name="status"
        ),
        sa.Index("ix_usage_records_started_at_request_id", "started_at", "request_id"),
        sa.Index(
            "ix_usage_records_user_id_started_at_request_id",
            "user_id",
            "started_at",
            "request_id",
        ),
    )

    request_id: Mapped[str] = mapped_column(sa.String, primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String)
    api_key_id: Mapped[str | None] = mapped_column(sa.String)
    model: Mapped[str] = mapped_column(sa.String)
    status: Mapped[str] = mapped_column(sa.String(16))
    error_code: Mapped[str | None] = mapped_column(sa.String)
    """Failed: the error code; cancelled: the cancel reason."""
    input_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    ttft_ms: Mapped[float | None] = mapped_column(sa.Double)
    latency_ms: Mapped[float | None] = mapped_column(sa.Double)
    started_at: Mapped[float] = mapped_column(sa.Double)
    """The accepted event's time; until that event is seen, the end time minus latency."""
    day: Mapped[str] = mapped_column(sa.String(10))
    """UTC day of ``started_at`` (``YYYY-MM-DD``): the per-day grouping key."""
    accepted_at: Mapped[float | None] = mapped_column(sa.Double)
    """Set by the accepted event (None: not seen yet)."""
    finished_at: Mapped[float | None] = mapped_column(sa.Double)
    """Set by the terminal event (None: not seen yet)."""
