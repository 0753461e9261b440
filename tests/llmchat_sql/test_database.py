"""``is_refused`` / ``is_unavailable`` on errors real PostgreSQL raises: a refusal of the
statement is never taken for an outage (retrying it would loop for ever)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from llmchat_sql.database import Database, is_refused, is_unavailable
from local_stack.ports import free_port
from tests.persistence.conftest import PG_ADMIN_DB, pg_url

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    db = Database(pg_url(PG_ADMIN_DB), pool_size=1, timeout_s=5.0)
    try:
        yield db
    finally:
        await db.dispose()


async def error_of(db: Database, statement: str, **params: object) -> BaseException:
    with pytest.raises((sa.exc.SQLAlchemyError, OSError)) as caught:
        async with db.read() as session:
            await session.execute(sa.text(statement), params)
    return caught.value


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        ("SELECT CAST(:v AS text)", {"v": "secret\x00"}),  # 22021, a bare DBAPIError
        ("SELECT 1 / CAST(:v AS int)", {"v": 0}),  # 22012
        ("SELECT * FROM no_such_table WHERE x = :v", {"v": "secret"}),  # 42P01
    ],
)
async def test_refusals_are_not_outages(
    pg: Database, statement: str, params: dict[str, object]
) -> None:
    error = await error_of(pg, statement, **params)
    assert is_refused(error)
    assert not is_unavailable(error)
    # The statement's values stay out of the error text (it is logged).
    assert "secret" not in str(error)


async def test_an_unreachable_database_is_an_outage() -> None:
    db = Database(pg_url(PG_ADMIN_DB, port=free_port()), pool_size=1, timeout_s=2.0)
    try:
        error = await error_of(db, "SELECT 1")
    finally:
        await db.dispose()
    assert is_unavailable(error)
    assert not is_refused(error)
