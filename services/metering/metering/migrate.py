"""Schema migrations (Alembic), run at start and by ``python -m metering.migrate``.

``python -m metering.migrate [revision]`` upgrades to ``revision`` (default ``head``) the
database the settings name (``METERING_DATABASE_URL`` / ``DATA_DIR``). The upgrade itself is
``llmchat_sql.migrations``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from llmchat_sql import migrations
from llmchat_sql.database import Database
from metering.settings import load_settings

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
VERSION_TABLE = "metering_alembic_version"
"""Metering's own Alembic version table: it may share a database with persistence."""
_PG_LOCK_KEY = 0x6D65746572696E67  # "metering": one migrating instance at a time


async def upgrade(db: Database, revision: str = "head") -> None:
    """Upgrade the schema in one transaction (PostgreSQL: under an advisory lock)."""
    await migrations.upgrade(db, ALEMBIC_INI, lock_key=_PG_LOCK_KEY, revision=revision)


def main(argv: list[str] | None = None) -> int:
    return migrations.migrate_command(
        "metering", load_settings, ALEMBIC_INI, lock_key=_PG_LOCK_KEY, argv=argv
    )


if __name__ == "__main__":
    sys.exit(main())
