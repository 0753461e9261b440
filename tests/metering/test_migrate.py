"""Migrations: the hand-written revision matches the models on both dialects, metering
can share a PostgreSQL database with persistence, and the ``python -m metering.migrate``
and ``python -m metering`` entry points."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import nats
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from llmchat_sql.database import Database
from metering.migrate import VERSION_TABLE, upgrade
from metering.models import Base
from persistence.migrate import upgrade as upgrade_persistence
from tests.metering.conftest import create_pg_database, drop_pg_database, pg_url
from tests.metering.harness import wait_ready

pytestmark = pytest.mark.nats

ROOT = Path(__file__).resolve().parents[2]


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migration_matches_models_and_is_repeatable(db_url: str) -> None:
    db = Database(db_url)
    try:
        await upgrade(db)
        await upgrade(db)  # already at head: nothing to do
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await db.dispose()
    assert diff == []


@pytest.mark.postgres
async def test_shares_a_postgresql_database_with_persistence() -> None:
    name = await create_pg_database()
    metering_db = Database(pg_url(name))
    persistence_db = Database(pg_url(name))
    try:
        await upgrade_persistence(persistence_db)
        await upgrade(metering_db)
        await upgrade_persistence(persistence_db)
        async with metering_db.read() as s:
            tables = set(
                (
                    await s.execute(
                        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                ).scalars()
            )
            own = (await s.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))).scalar()
        assert {"usage_records", "users", "alembic_version", VERSION_TABLE} <= tables
        assert own == "m0001"
    finally:
        await metering_db.dispose()
        await persistence_db.dispose()
        await drop_pg_database(name)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def test_migrate_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "metering.migrate"],
        env=_env(DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "metering.db").exists()


def test_bad_setting_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "metering"],
        env=_env(DATA_DIR=str(tmp_path), METERING_EVENTS_BATCH="zero"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "METERING_EVENTS_BATCH" in done.stderr


async def test_service_process_stops_cleanly_on_sigterm(
    tmp_path: Path, metering_nats_url: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metering",
        env=_env(DATA_DIR=str(tmp_path), NATS_URL=metering_nats_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        nc = await nats.connect(metering_nats_url)
        try:
            await wait_ready(nc, wait_s=60)
        finally:
            await nc.drain()
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, out.decode()
    assert b"metering stopped" in out
