"""Alembic schema upgrades of a service's database, at start and by ``python -m
<service>.migrate [revision]`` (each service keeps that entry point and names its own
``alembic.ini`` and PostgreSQL advisory lock key).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from env_settings import SettingsError
from llmchat_sql.database import Database


class DatabaseSettings(Protocol):
    """The settings fields ``migrate_command`` reads."""

    @property
    def data_dir(self) -> Path: ...
    @property
    def database_url(self) -> str | None: ...
    @property
    def db_url(self) -> str: ...
    @property
    def db_timeout_s(self) -> float: ...


def _upgrade(connection: Connection, alembic_ini: Path, lock_key: int, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
    config = Config(str(alembic_ini))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(
    db: Database, alembic_ini: Path, *, lock_key: int, revision: str = "head"
) -> None:
    """Upgrade the schema in one transaction (PostgreSQL: under the advisory lock
    ``lock_key``, so one instance migrates at a time)."""
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, alembic_ini, lock_key, revision)


def migrate_command(
    service: str,
    load_settings: Callable[[], DatabaseSettings],
    alembic_ini: Path,
    *,
    lock_key: int,
    argv: list[str] | None = None,
) -> int:
    """``python -m <service>.migrate [revision]``: upgrade the database the settings name
    to ``revision`` (default ``head``). Exit status 2 on a bad setting."""
    args = sys.argv[1:] if argv is None else argv
    revision = args[0] if args else "head"
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{service}.migrate: bad setting: {exc}", file=sys.stderr)
        return 2
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def _go() -> None:
        db = Database(settings.db_url, pool_size=1, timeout_s=settings.db_timeout_s)
        try:
            await upgrade(db, alembic_ini, lock_key=lock_key, revision=revision)
        finally:
            await db.dispose()

    asyncio.run(_go())
    print(f"{service}: database at revision {revision}")
    return 0
