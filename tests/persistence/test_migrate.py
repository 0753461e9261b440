"""Migrations: the hand-written revision matches the models on both dialects; the
``python -m persistence.migrate`` and ``python -m persistence`` entry points."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import nats
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from llmchat_sql.database import Database
from persistence.migrate import upgrade
from persistence.models import Base
from tests.persistence.harness import wait_ready

pytestmark = pytest.mark.nats

ROOT = Path(__file__).resolve().parents[2]


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
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


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def test_migrate_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "persistence.migrate"],
        env=_env(DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "llmchat.db").exists()


async def test_service_process_stops_cleanly_on_sigterm(
    tmp_path: Path, persistence_nats_url: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "persistence",
        env=_env(DATA_DIR=str(tmp_path), NATS_URL=persistence_nats_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    nc = await nats.connect(persistence_nats_url)
    try:
        await wait_ready(nc, wait_s=60)
    finally:
        await nc.drain()
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, out.decode()
    assert b"persistence stopped" in out
