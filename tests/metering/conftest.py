"""Fixtures of the metering tests: a migrated database on BOTH real PostgreSQL and SQLite
(parametrized), the domain objects over it, and a private nats-server so the durable
consumer's position is not shared with other test packages."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from llmchat_sql.database import Database
from metering.migrate import upgrade
from metering.queries import UsageQueries
from metering.recorder import UsageRecorder
from tests.conftest import NatsServers

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("TEST_PG_DB", "test")


def pg_url(database: str, port: int = PG_PORT) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{port}/{database}"


async def create_pg_database() -> str:
    name = f"test_metering_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database of either dialect (PostgreSQL: its own database)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'metering.db'}"
        return
    name = await create_pg_database()
    try:
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, pool_size=5)
    await upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def recorder(db: Database) -> UsageRecorder:
    return UsageRecorder(db)


@pytest.fixture
def queries(db: Database) -> UsageQueries:
    return UsageQueries(db)


@pytest.fixture(scope="package")
def metering_nats_url(nats_servers: NatsServers) -> Iterator[str]:
    # private: a durable consumer of its own: events of other packages' tests must not reach it
    with nats_servers.private("nats-metering") as server:
        yield server.url
