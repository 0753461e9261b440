"""The create-admin command: a new admin, or an existing user promoted; on both databases."""

from __future__ import annotations

import pytest

from contracts.accounts import Authenticate, RegisterUser
from llmchat_sql.database import Database
from persistence.accounts import Accounts
from persistence.create_admin import create_admin
from persistence.errors import DomainError

pytestmark = pytest.mark.nats
PASSWORD = "a long enough password"


async def test_creates_an_admin_who_can_log_in(db: Database, accounts: Accounts) -> None:
    message = await create_admin(db, "Boss@Example.com", PASSWORD)
    assert message.startswith("created admin boss@example.com")
    user = await accounts.authenticate(Authenticate(email="boss@example.com", password=PASSWORD))
    assert user.role == "admin"


async def test_promotes_an_existing_user(db: Database, accounts: Accounts) -> None:
    user = await accounts.register(RegisterUser(email="carol@example.com", password=PASSWORD))
    assert user.role == "user"
    message = await create_admin(db, "carol@example.com", "another password entirely")
    assert "is now an admin" in message
    again = await accounts.authenticate(Authenticate(email="carol@example.com", password=PASSWORD))
    assert (again.id, again.role) == (user.id, "admin")


async def test_refuses_a_short_password(db: Database) -> None:
    with pytest.raises(DomainError) as caught:
        await create_admin(db, "dave@example.com", "short")
    assert caught.value.code == "invalid_request"
