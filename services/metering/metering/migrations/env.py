"""Alembic environment of the metering service (PostgreSQL and SQLite).

``metering.migrate`` hands over an open connection in ``config.attributes["connection"]``;
the alembic CLI gets none, and an async engine is built from the service settings. SQLite
migrations run in batch mode (``render_as_batch``). The version table is
``VERSION_TABLE``, not alembic's default, so it never collides with persistence's.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from metering.migrate import VERSION_TABLE
from metering.models import Base
from metering.settings import load_settings

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    # Autogenerate looks only at metering's own tables (the database may be shared).
    return type_ != "table" or name in target_metadata.tables


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        version_table=VERSION_TABLE,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_engine(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    url = config.get_main_option("sqlalchemy.url") or load_settings().db_url
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            literal_binds=True,
            render_as_batch=url.startswith("sqlite"),
            version_table=VERSION_TABLE,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_with_engine(url))


_main()
