"""The embedded SQLite database is its owner's alone: it holds every user's messages and
credentials."""

from __future__ import annotations

import stat
from pathlib import Path

import sqlalchemy as sa

from llmchat_sql.database import Database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    existing = tmp_path / "old.db"
    existing.touch(mode=0o644)  # made before this rule, by an earlier version
    for path in (tmp_path / "new.db", existing):
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            async with db.write() as session:
                await session.execute(sa.text("CREATE TABLE IF NOT EXISTS t (v TEXT)"))
                await session.execute(sa.text("INSERT INTO t VALUES ('a message')"))
            wal = path.with_name(path.name + "-wal")
            assert wal.exists()
            assert (mode(path), mode(wal)) == (0o600, 0o600)
        finally:
            await db.dispose()
