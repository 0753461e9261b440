"""Schema migrations (Alembic), run at start and by ``python -m persistence.migrate``.

``python -m persistence.migrate [revision]`` upgrades to ``revision`` (default ``head``) the
database the settings name (``DATABASE_URL`` / ``DATA_DIR``). The upgrade itself is
``llmchat_sql.migrations``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from llmchat_sql import migrations
from llmchat_sql.database import Database
from persistence.settings import load_settings

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
_PG_LOCK_KEY = 0x6C6C6D63686174  # "llmchat": one migrating instance at a time


async def upgrade(db: Database, revision: str = "head") -> None:
    """Upgrade the schema in one transaction (PostgreSQL: under an advisory lock)."""
    await migrations.upgrade(db, ALEMBIC_INI, lock_key=_PG_LOCK_KEY, revision=revision)


def main(argv: list[str] | None = None) -> int:
    return migrations.migrate_command(
        "persistence", load_settings, ALEMBIC_INI, lock_key=_PG_LOCK_KEY, argv=argv
    )


if __name__ == "__main__":
    sys.exit(main())
