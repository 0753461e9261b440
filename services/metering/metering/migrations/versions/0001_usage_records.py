"""usage records: one row per chat request

Revision ID: m0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "m0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("api_key_id", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ttft_ms", sa.Double(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("accepted_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.CheckConstraint(
            "status IN ('accepted', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_usage_records_status"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_usage_records")),
    )
    op.create_index(
        "ix_usage_records_started_at_request_id", "usage_records", ["started_at", "request_id"]
    )
    op.create_index(
        "ix_usage_records_user_id_started_at_request_id",
        "usage_records",
        ["user_id", "started_at", "request_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_usage_records_user_id_started_at_request_id", table_name="usage_records")
    op.drop_index("ix_usage_records_started_at_request_id", table_name="usage_records")
    op.drop_table("usage_records")
