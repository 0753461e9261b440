"""The database handle: async engine, sessions, the SQLite write lock, error classes.

PostgreSQL (asyncpg) in production, SQLite (aiosqlite) in the embedded default. SQLite
allows one writer: a read-then-write transaction that meets another writer fails at once
with "database is locked" instead of waiting, so write transactions of this process take
an in-process lock on SQLite (one service process owns its file).

With tracing on (a ``tracer_provider``), each statement is a client span of
opentelemetry-instrumentation-sqlalchemy, a child of the request or event it serves.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__ as instrumentation_version
from opentelemetry.metrics import NoOpUpDownCounter
from opentelemetry.trace import TracerProvider
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from llmchat_bus.tracing import prefer_stable_semconv

REJECTED_ERRORS: tuple[type[BaseException], ...] = (
    exc.IntegrityError,
    exc.DataError,
    exc.ProgrammingError,
    exc.NotSupportedError,
)
"""The database refuses what was sent: retrying the same statement cannot help."""

UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    exc.SQLAlchemyError,
    OSError,
    TimeoutError,
)
"""What a database call raises when the database is down, slow or broken: the caller
answers ``service_unavailable`` or retries later. ``REJECTED_ERRORS`` are
``SQLAlchemyError`` too: check them first where a refusal means something else (or use
``is_unavailable``)."""


REFUSED_SQLSTATE_CLASSES = frozenset({"22", "23", "42", "0A"})
"""PostgreSQL SQLSTATE classes that refuse the statement itself: data exception (a NUL
byte, a value too long), integrity violation, syntax or access rule, feature not
supported. asyncpg's errors of class 22 reach SQLAlchemy as a plain ``DBAPIError``, so the
class is read from the driver's ``sqlstate``, not from the exception type."""


def is_refused(error: BaseException) -> bool:
    """The database refused what was sent: the same statement will fail again."""
    if isinstance(error, REJECTED_ERRORS):
        return True
    if isinstance(error, exc.DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        return isinstance(sqlstate, str) and sqlstate[:2] in REFUSED_SQLSTATE_CLASSES
    return False


def is_unavailable(error: BaseException) -> bool:
    """An outage (retry later), not a refusal of what was sent."""
    return isinstance(error, UNAVAILABLE_ERRORS) and not is_refused(error)


def _owner_only(database: str | None) -> None:
    """The SQLite file readable by its owner only (0600), made so before SQLite opens it:
    it holds every user's messages and credentials. SQLite gives its journal and WAL files
    the database file's permissions."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    path.chmod(0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE needs it
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def trace_statements(engine: AsyncEngine, tracer_provider: TracerProvider) -> None:
    """A span per statement of ``engine`` on ``tracer_provider``. The package's tracer is
    attached to this one engine: ``SQLAlchemyInstrumentor().instrument()`` would also
    patch ``create_engine`` process-wide, once per process, for the first provider only.
    Statement values never go on the spans (the package records the text only)."""
    prefer_stable_semconv()
    tracer = tracer_provider.get_tracer(
        "opentelemetry.instrumentation.sqlalchemy", instrumentation_version
    )
    # Pool usage is a metric; metrics are Prometheus here, so it goes nowhere.
    usage = NoOpUpDownCounter("db.client.connections.usage")
    EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]


class Database:
    """``hide_parameters``: a database error's text (logged) leaves out the statement's
    values, which are users' messages, e-mails and prompts. ``tracer_provider``: tracing
    on (see ``trace_statements``)."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        timeout_s: float = 10.0,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.url = sa.engine.make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            _owner_only(self.url.database)
            self.engine: AsyncEngine = create_async_engine(
                self.url, connect_args={"timeout": max(timeout_s, 30.0)}, hide_parameters=True
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_timeout=timeout_s,
                hide_parameters=True,
                connect_args={"timeout": timeout_s, "command_timeout": timeout_s * 3},
            )
        if tracer_provider is not None:
            trace_statements(self.engine, tracer_provider)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success, rolled back on error."""
        if self.is_sqlite:
            async with self._write_lock, self._sessions() as session, session.begin():
                yield session
        else:
            async with self._sessions() as session, session.begin():
                yield session

    def insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT, which has ``on_conflict_do_nothing`` / ``_do_update``."""
        if self.is_sqlite:
            return sqlite.insert(table)
        return postgresql.insert(table)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
