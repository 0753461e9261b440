"""Alembic environment of the metering service (``llmchat_sql.alembic_env``).

Its version table is ``VERSION_TABLE``, not alembic's default, so it never collides with
persistence's when both use one database; autogenerate looks only at metering's tables.
"""

from __future__ import annotations

from llmchat_sql.alembic_env import run_migrations
from metering.migrate import VERSION_TABLE
from metering.models import Base
from metering.settings import load_settings

run_migrations(
    Base.metadata,
    lambda: load_settings().db_url,
    version_table=VERSION_TABLE,
    only_own_tables=True,
)
