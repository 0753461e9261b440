"""Schema migrations (Alembic), run at start and by ``python -m metering.migrate``.

``python -m metering.migrate [revision]`` upgrades to ``revision`` (default ``head``) the
database the settings name (``METERING_DATABASE_URL`` / ``DATA_DIR``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from metering.database import Database
from metering.settings import SettingsError, load_settings

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
VERSION_TABLE = "metering_alembic_version"
"""Metering's own Alembic version table: it may share a database with persistence."""
_PG_LOCK_KEY = 0x6D65746572696E67  # "metering": one migrating instance at a time


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(db: Database, revision: str = "head") -> None:
    """Upgrade the schema in one transaction (PostgreSQL: under an advisory lock)."""
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    revision = args[0] if args else "head"
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"metering.migrate: bad setting: {exc}", file=sys.stderr)
        return 2
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def _go() -> None:
        db = Database(settings.db_url, pool_size=1, timeout_s=settings.db_timeout_s)
        try:
            await upgrade(db, revision)
        finally:
            await db.dispose()

    asyncio.run(_go())
    print(f"metering: database at revision {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
