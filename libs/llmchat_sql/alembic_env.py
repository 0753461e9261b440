"""What a service's Alembic ``env.py`` runs (PostgreSQL and SQLite).

The service's migrate command hands over an open connection in
``config.attributes["connection"]``; the alembic CLI gets none, and an async engine is
built from the URL the service's settings give. SQLite migrations run in batch mode
(``render_as_batch``), since SQLite cannot alter most constraints in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

DEFAULT_VERSION_TABLE = "alembic_version"


def run_migrations(
    metadata: MetaData,
    db_url: Callable[[], str],
    *,
    version_table: str = DEFAULT_VERSION_TABLE,
    only_own_tables: bool = False,
) -> None:
    """Run the migrations of ``metadata``: offline (SQL script), on the handed-over
    connection, or on an engine for ``db_url()``. ``only_own_tables``: autogenerate
    looks only at ``metadata``'s tables (a database shared with another service)."""
    config = context.config

    def include_name(name: str | None, type_: str, _parents: object) -> bool:
        return not only_own_tables or type_ != "table" or name in metadata.tables

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            version_table=version_table,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_with_engine(url: str) -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(run)
        finally:
            await engine.dispose()

    url = config.get_main_option("sqlalchemy.url") or db_url()
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=metadata,
            literal_binds=True,
            render_as_batch=url.startswith("sqlite"),
            version_table=version_table,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
    else:
        asyncio.run(run_with_engine(url))
