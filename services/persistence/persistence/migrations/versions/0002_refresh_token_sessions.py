"""refresh tokens belong to a sign-in session (family): reuse revokes it, logout ends it

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Tokens issued before sessions existed: each is a session of its own.
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("family_id", sa.String(64), nullable=True))
    op.execute("UPDATE refresh_tokens SET family_id = id")
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.alter_column("family_id", existing_type=sa.String(64), nullable=False)
        batch.create_index(op.f("ix_refresh_tokens_family_id"), ["family_id"])


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_index(op.f("ix_refresh_tokens_family_id"))
        batch.drop_column("family_id")
