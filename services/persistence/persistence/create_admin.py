"""``python -m persistence.create_admin EMAIL``: create an admin (or promote a user).

The password is read from standard input (one line), so it never appears in the process
list or the shell history: ``printf '%s\\n' "$PASSWORD" | python -m persistence.create_admin
admin@example.com``. Runs the migrations first; works whether or not the service runs.
"""

from __future__ import annotations

import asyncio
import sys

import sqlalchemy as sa

from contracts.accounts import RegisterUser, UpdateUser
from contracts.errors import ErrorCode
from llmchat_sql.database import Database
from persistence.accounts import Accounts
from persistence.credentials import normalise_email
from persistence.errors import DomainError
from persistence.migrate import upgrade
from persistence.models import User
from persistence.settings import SettingsError, load_settings


async def create_admin(db: Database, email: str, password: str) -> str:
    """Register ``email`` as an admin; an existing user with that email becomes admin."""
    await upgrade(db)
    accounts = Accounts(db)
    try:
        user = await accounts.register(RegisterUser(email=email, password=password, role="admin"))
        return f"created admin {user.email} (id {user.id})"
    except DomainError as exc:
        if exc.code != ErrorCode.CONFLICT:
            raise
    async with db.read() as session:
        user_id = await session.scalar(
            sa.select(User.id).where(User.email == normalise_email(email))
        )
    if user_id is None:  # a conflict on another field: report it as it was
        raise DomainError(ErrorCode.CONFLICT, f"cannot register {email}")
    user = await accounts.update_user(UpdateUser(user_id=user_id, role="admin"))
    return f"{user.email} (id {user.id}) is now an admin"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m persistence.create_admin EMAIL  (password on stdin)", file=sys.stderr
        )
        return 2
    password = sys.stdin.readline().rstrip("\n")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"persistence.create_admin: bad setting: {exc}", file=sys.stderr)
        return 2
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def _go() -> str:
        db = Database(settings.db_url, pool_size=1, timeout_s=settings.db_timeout_s)
        try:
            return await create_admin(db, args[0], password)
        finally:
            await db.dispose()

    try:
        print(asyncio.run(_go()))
    except DomainError as exc:
        print(f"persistence.create_admin: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
