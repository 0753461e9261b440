"""Accounts against real PostgreSQL and SQLite: users, refresh tokens, API keys, settings."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from contracts.accounts import (
    AccountChanged,
    Authenticate,
    CreateApiKey,
    GetSettings,
    GetUser,
    IssueRefresh,
    ListApiKeys,
    ListUsers,
    PutSettings,
    RegisterUser,
    RevokeApiKey,
    RevokeRefresh,
    RotateRefresh,
    UpdateUser,
    UserSettings,
    VerifyApiKey,
)
from contracts.errors import ErrorCode
from llmchat_sql.database import Database
from persistence.accounts import DEV_ADMIN_ID, Accounts
from persistence.credentials import digest
from persistence.errors import DomainError
from persistence.models import ApiKey, RefreshToken, User
from tests.persistence.conftest import fast_passwords

pytestmark = pytest.mark.nats

PASSWORD = "correct horse"


async def refused(code: ErrorCode, awaitable: object) -> DomainError:
    with pytest.raises(DomainError) as info:
        await awaitable  # type: ignore[misc]
    assert info.value.code == code, info.value.message
    return info.value


async def test_register_stores_lowercased_email_and_argon2_hash(
    accounts: Accounts, db: Database
) -> None:
    user = await accounts.register(RegisterUser(email=" Alice@Example.COM ", password=PASSWORD))
    assert user.email == "alice@example.com"
    assert user.role == "user"
    assert not user.disabled
    assert len(user.id) == 32
    async with db.read() as s:
        row = await s.get(User, user.id)
    assert row is not None
    assert row.password_hash.startswith("$argon2")
    assert PASSWORD not in row.password_hash


async def test_duplicate_email_is_conflict_whatever_the_case(accounts: Accounts) -> None:
    await accounts.register(RegisterUser(email="bob@example.com", password=PASSWORD))
    await refused(
        ErrorCode.CONFLICT,
        accounts.register(RegisterUser(email="BOB@example.com", password=PASSWORD)),
    )


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("not-an-email", PASSWORD),
        ("a@b@c", PASSWORD),
        ("spaces in@example.com", PASSWORD),
        ("", PASSWORD),
        ("ok@example.com", "short"),
    ],
)
async def test_bad_email_or_short_password_is_invalid_request(
    accounts: Accounts, email: str, password: str
) -> None:
    await refused(
        ErrorCode.INVALID_REQUEST, accounts.register(RegisterUser(email=email, password=password))
    )


async def test_authenticate_right_and_wrong_password(accounts: Accounts) -> None:
    user = await accounts.register(RegisterUser(email="carol@example.com", password=PASSWORD))
    ok = await accounts.authenticate(Authenticate(email="CAROL@example.com", password=PASSWORD))
    assert ok.id == user.id
    wrong = await refused(
        ErrorCode.UNAUTHORIZED,
        accounts.authenticate(Authenticate(email="carol@example.com", password="wrong pass")),
    )
    unknown = await refused(
        ErrorCode.UNAUTHORIZED,
        accounts.authenticate(Authenticate(email="nobody@example.com", password=PASSWORD)),
    )
    assert wrong.message == unknown.message  # does not reveal which


async def test_disabled_user_is_refused_everywhere(accounts: Accounts) -> None:
    await accounts.ensure_dev_admin()  # so disabling the user is not "the last admin"
    user = await accounts.register(RegisterUser(email="dan@example.com", password=PASSWORD))
    refresh = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=3600))
    key = await accounts.create_api_key(CreateApiKey(user_id=user.id, name="k"))
    updated = await accounts.update_user(UpdateUser(user_id=user.id, disabled=True))
    assert updated.disabled
    await refused(
        ErrorCode.UNAUTHORIZED,
        accounts.authenticate(Authenticate(email="dan@example.com", password=PASSWORD)),
    )
    await refused(
        ErrorCode.UNAUTHORIZED,
        accounts.rotate_refresh(RotateRefresh(token=refresh.token, ttl_s=3600)),
    )
    await refused(ErrorCode.UNAUTHORIZED, accounts.verify_api_key(VerifyApiKey(secret=key.secret)))
    await refused(
        ErrorCode.UNAUTHORIZED, accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=60))
    )


async def test_rehash_on_login_when_parameters_change(db: Database) -> None:
    weak = Accounts(db, fast_passwords())
    user = await weak.register(RegisterUser(email="eve@example.com", password=PASSWORD))
    async with db.read() as s:
        before = await s.scalar(sa.select(User.password_hash).where(User.id == user.id))
    from argon2 import PasswordHasher

    from persistence.credentials import Passwords

    stronger = Accounts(db, Passwords(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)))
    await stronger.authenticate(Authenticate(email="eve@example.com", password=PASSWORD))
    async with db.read() as s:
        after = await s.scalar(sa.select(User.password_hash).where(User.id == user.id))
    assert after != before
    assert after is not None
    assert "m=2048" in after


async def test_get_list_update_users_and_last_admin_guard(accounts: Accounts) -> None:
    admin = await accounts.register(
        RegisterUser(email="root@example.com", password=PASSWORD, role="admin")
    )
    user = await accounts.register(RegisterUser(email="u@example.com", password=PASSWORD))
    assert (await accounts.get_user(GetUser(user_id=user.id))).email == "u@example.com"
    await refused(ErrorCode.NOT_FOUND, accounts.get_user(GetUser(user_id="missing")))
    listing = await accounts.list_users(ListUsers(limit=1))
    assert listing.total == 2
    assert [u.id for u in listing.users] == [admin.id]
    await refused(ErrorCode.INVALID_REQUEST, accounts.list_users(ListUsers(limit=0)))
    await refused(
        ErrorCode.FORBIDDEN, accounts.update_user(UpdateUser(user_id=admin.id, role="user"))
    )
    promoted = await accounts.update_user(UpdateUser(user_id=user.id, role="admin"))
    assert promoted.role == "admin"
    demoted = await accounts.update_user(UpdateUser(user_id=admin.id, role="user"))
    assert demoted.role == "user"
    await refused(ErrorCode.NOT_FOUND, accounts.update_user(UpdateUser(user_id="x", role="user")))


# --- refresh tokens ---------------------------------------------------------------------


async def test_refresh_issue_rotate_revokes_the_old_one(accounts: Accounts, db: Database) -> None:
    user = await accounts.register(RegisterUser(email="f@example.com", password=PASSWORD))
    issued = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=3600))
    async with db.read() as s:
        stored = await s.scalar(sa.select(RefreshToken.token_hash))
    assert stored == digest(issued.token)  # only the hash is stored
    rotated = await accounts.rotate_refresh(RotateRefresh(token=issued.token, ttl_s=60))
    assert rotated.user.id == user.id
    assert rotated.token != issued.token
    again = await accounts.rotate_refresh(RotateRefresh(token=rotated.token, ttl_s=60))
    assert again.user.id == user.id
    assert again.session_id == rotated.session_id == issued.session_id
    await refused(  # each token works once (used again, it ends the session: see below)
        ErrorCode.UNAUTHORIZED,
        accounts.rotate_refresh(RotateRefresh(token=issued.token, ttl_s=60)),
    )


async def test_refresh_revoke_and_unknown(accounts: Accounts) -> None:
    user = await accounts.register(RegisterUser(email="g@example.com", password=PASSWORD))
    issued = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=3600))
    await accounts.revoke_refresh(RevokeRefresh(token=issued.token))
    await accounts.revoke_refresh(RevokeRefresh(token=issued.token))  # idempotent
    await refused(
        ErrorCode.UNAUTHORIZED, accounts.rotate_refresh(RotateRefresh(token=issued.token, ttl_s=9))
    )
    await refused(
        ErrorCode.UNAUTHORIZED, accounts.rotate_refresh(RotateRefresh(token="nope", ttl_s=9))
    )
    await refused(
        ErrorCode.INVALID_REQUEST, accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=0))
    )
    await refused(
        ErrorCode.NOT_FOUND, accounts.issue_refresh(IssueRefresh(user_id="ghost", ttl_s=9))
    )


async def test_expired_refresh_token_is_refused(db: Database) -> None:
    now = [1_000_000.0]
    accounts = Accounts(db, fast_passwords(), clock=lambda: now[0])
    user = await accounts.register(RegisterUser(email="h@example.com", password=PASSWORD))
    issued = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=60))
    assert issued.expires_at == 1_000_060.0
    now[0] += 61
    await refused(
        ErrorCode.UNAUTHORIZED, accounts.rotate_refresh(RotateRefresh(token=issued.token, ttl_s=9))
    )


async def test_a_refresh_token_used_twice_ends_its_whole_session(db: Database) -> None:
    """The thief or the owner used it first: either way, both are signed out."""
    told = RecordedChanges()
    accounts = Accounts(db, fast_passwords(), changes=told)
    user = await accounts.register(RegisterUser(email="r@example.com", password=PASSWORD))
    first = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=3600))
    other = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=3600))
    assert first.session_id != other.session_id
    second = await accounts.rotate_refresh(RotateRefresh(token=first.token, ttl_s=3600))
    assert second.session_id == first.session_id
    session = GetUser(user_id=user.id, session_id=first.session_id)
    assert (await accounts.get_user(session)).id == user.id

    await refused(  # the rotated token again
        ErrorCode.UNAUTHORIZED, accounts.rotate_refresh(RotateRefresh(token=first.token, ttl_s=9))
    )
    await refused(  # its successor no longer works
        ErrorCode.UNAUTHORIZED, accounts.rotate_refresh(RotateRefresh(token=second.token, ttl_s=9))
    )
    await refused(ErrorCode.UNAUTHORIZED, accounts.get_user(session))  # nor its access tokens
    assert [(c.kind, c.user_id) for c in told.changes] == [("user", user.id)]  # at once
    # the user's other sign-in goes on
    await accounts.get_user(GetUser(user_id=user.id, session_id=other.session_id))
    await accounts.rotate_refresh(RotateRefresh(token=other.token, ttl_s=9))


async def test_logout_ends_the_session_and_is_announced(db: Database) -> None:
    told = RecordedChanges()
    now = [1_000_000.0]
    accounts = Accounts(db, fast_passwords(), clock=lambda: now[0], changes=told)
    user = await accounts.register(RegisterUser(email="lo@example.com", password=PASSWORD))
    issued = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=60))
    session = GetUser(user_id=user.id, session_id=issued.session_id)
    rotated = await accounts.rotate_refresh(RotateRefresh(token=issued.token, ttl_s=60))
    await accounts.revoke_refresh(RevokeRefresh(token=issued.token))  # an older token of it
    assert [(c.kind, c.user_id) for c in told.changes] == [("user", user.id)]
    await refused(ErrorCode.UNAUTHORIZED, accounts.get_user(session))
    await refused(
        ErrorCode.UNAUTHORIZED, accounts.rotate_refresh(RotateRefresh(token=rotated.token, ttl_s=9))
    )
    # a session whose tokens all expired has ended too; a user asked for without one has not
    again = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=60))
    now[0] += 61
    await refused(
        ErrorCode.UNAUTHORIZED,
        accounts.get_user(GetUser(user_id=user.id, session_id=again.session_id)),
    )
    assert (await accounts.get_user(GetUser(user_id=user.id))).id == user.id
    other = await accounts.register(RegisterUser(email="lo2@example.com", password=PASSWORD))
    live = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=60))
    await refused(  # a session of one user is not another's
        ErrorCode.UNAUTHORIZED,
        accounts.get_user(GetUser(user_id=other.id, session_id=live.session_id)),
    )


async def test_expired_refresh_tokens_are_removed_and_the_others_kept(db: Database) -> None:
    now = [1_000_000.0]
    accounts = Accounts(db, fast_passwords(), clock=lambda: now[0])
    user = await accounts.register(RegisterUser(email="ex@example.com", password=PASSWORD))
    short = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=60))
    rotated = await accounts.rotate_refresh(RotateRefresh(token=short.token, ttl_s=60))
    long = await accounts.issue_refresh(IssueRefresh(user_id=user.id, ttl_s=3600))
    assert await accounts.remove_expired_refresh_tokens() == 0
    now[0] += 61
    assert await accounts.remove_expired_refresh_tokens() == 2  # the rotated one and its successor
    async with db.read() as s:
        left = list(await s.scalars(sa.select(RefreshToken.token_hash)))
    assert left == [digest(long.token)]
    assert rotated.token != long.token
    await accounts.rotate_refresh(RotateRefresh(token=long.token, ttl_s=60))


# --- API keys ---------------------------------------------------------------------------


async def test_api_key_lifecycle(accounts: Accounts, db: Database) -> None:
    user = await accounts.register(RegisterUser(email="i@example.com", password=PASSWORD))
    created = await accounts.create_api_key(CreateApiKey(user_id=user.id, name=" laptop "))
    assert created.secret.startswith("sk-llmchat-")
    assert created.key.prefix == created.secret[:12]
    assert created.key.name == "laptop"
    async with db.read() as s:
        row = await s.get(ApiKey, created.key.id)
    assert row is not None
    assert row.key_hash == digest(created.secret)
    assert created.secret not in (row.key_hash, row.prefix)  # the secret itself is not stored

    listed = await accounts.list_api_keys(ListApiKeys(user_id=user.id))
    assert [k.id for k in listed.keys] == [created.key.id]
    assert "secret" not in type(listed.keys[0]).__struct_fields__  # shown once, never again

    owner = await accounts.verify_api_key(VerifyApiKey(secret=created.secret))
    assert owner.user.id == user.id
    assert owner.key_id == created.key.id
    listed = await accounts.list_api_keys(ListApiKeys(user_id=user.id))
    assert listed.keys[0].last_used_at is not None

    await accounts.revoke_api_key(RevokeApiKey(user_id=user.id, key_id=created.key.id))
    await refused(
        ErrorCode.UNAUTHORIZED, accounts.verify_api_key(VerifyApiKey(secret=created.secret))
    )
    listed = await accounts.list_api_keys(ListApiKeys(user_id=user.id))
    assert listed.keys[0].revoked
    await refused(
        ErrorCode.UNAUTHORIZED, accounts.verify_api_key(VerifyApiKey(secret="sk-llmchat-nope"))
    )
    await refused(
        ErrorCode.INVALID_REQUEST, accounts.create_api_key(CreateApiKey(user_id=user.id, name=""))
    )


async def test_a_key_that_is_not_valid_costs_no_write(
    accounts: Accounts, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of bogus ``sk-llmchat-`` keys must not queue on the write lock."""
    user = await accounts.register(RegisterUser(email="kw@example.com", password=PASSWORD))
    revoked = await accounts.create_api_key(CreateApiKey(user_id=user.id, name="old"))
    await accounts.revoke_api_key(RevokeApiKey(user_id=user.id, key_id=revoked.key.id))
    writes: list[str] = []
    write = db.write

    def counted_write() -> object:
        writes.append("write")
        return write()

    monkeypatch.setattr(db, "write", counted_write)
    for secret in ("sk-llmchat-bogus", revoked.secret):
        await refused(ErrorCode.UNAUTHORIZED, accounts.verify_api_key(VerifyApiKey(secret=secret)))
    assert writes == []


async def test_other_users_key_cannot_be_revoked(accounts: Accounts) -> None:
    alice = await accounts.register(RegisterUser(email="j@example.com", password=PASSWORD))
    mallory = await accounts.register(RegisterUser(email="k@example.com", password=PASSWORD))
    key = await accounts.create_api_key(CreateApiKey(user_id=alice.id, name="a"))
    await refused(
        ErrorCode.NOT_FOUND,
        accounts.revoke_api_key(RevokeApiKey(user_id=mallory.id, key_id=key.key.id)),
    )
    owner = await accounts.verify_api_key(VerifyApiKey(secret=key.secret))
    assert owner.user.id == alice.id
    assert (await accounts.list_api_keys(ListApiKeys(user_id=mallory.id))).keys == []


# --- settings ---------------------------------------------------------------------------


async def test_settings_get_put(accounts: Accounts) -> None:
    user = await accounts.register(RegisterUser(email="l@example.com", password=PASSWORD))
    assert await accounts.get_settings(GetSettings(user_id=user.id)) == UserSettings()
    wanted = UserSettings(
        system_prompt="Be brief.", model="gemma3-270m", temperature=0.2, top_p=0.9, max_tokens=64
    )
    assert await accounts.put_settings(PutSettings(user_id=user.id, settings=wanted)) == wanted
    assert await accounts.get_settings(GetSettings(user_id=user.id)) == wanted
    cleared = UserSettings(model="other")
    await accounts.put_settings(PutSettings(user_id=user.id, settings=cleared))
    assert await accounts.get_settings(GetSettings(user_id=user.id)) == cleared
    await refused(
        ErrorCode.INVALID_REQUEST,
        accounts.put_settings(PutSettings(user_id=user.id, settings=UserSettings(temperature=5.0))),
    )
    await refused(ErrorCode.NOT_FOUND, accounts.get_settings(GetSettings(user_id="ghost")))


# --- bootstrap --------------------------------------------------------------------------


async def test_dev_admin_off_disables_it_and_on_enables_it_again(db: Database) -> None:
    told = RecordedChanges()
    accounts = Accounts(db, fast_passwords(), changes=told)
    await accounts.retire_dev_admin()  # none yet: nothing to do
    assert told.changes == []
    await accounts.ensure_dev_admin()
    await accounts.retire_dev_admin()
    assert (await accounts.get_user(GetUser(user_id=DEV_ADMIN_ID))).disabled
    assert [(c.kind, c.user_id) for c in told.changes] == [("user", DEV_ADMIN_ID)]
    await accounts.retire_dev_admin()  # already disabled: not announced again
    assert len(told.changes) == 1
    await accounts.ensure_dev_admin()
    assert not (await accounts.get_user(GetUser(user_id=DEV_ADMIN_ID))).disabled
    assert len(told.changes) == 2


async def test_dev_admin_and_first_admin_bootstrap(accounts: Accounts) -> None:
    await accounts.ensure_dev_admin()
    await accounts.ensure_dev_admin()  # idempotent
    dev = await accounts.get_user(GetUser(user_id=DEV_ADMIN_ID))
    assert (dev.email, dev.role) == ("admin@localhost", "admin")
    await refused(  # the unusable password never matches
        ErrorCode.UNAUTHORIZED,
        accounts.authenticate(Authenticate(email="admin@localhost", password="!unusable")),
    )
    await accounts.ensure_admin("Boss@Example.com", PASSWORD)
    await accounts.ensure_admin("boss@example.com", "another password")  # left alone
    boss = await accounts.authenticate(Authenticate(email="boss@example.com", password=PASSWORD))
    assert boss.role == "admin"
    assert (await accounts.list_users(ListUsers())).total == 2


class RecordedChanges:
    """An ``AccountChanges`` that keeps what it is told (the NATS one is tested live)."""

    def __init__(self) -> None:
        self.changes: list[AccountChanged] = []

    async def announce(self, change: AccountChanged) -> None:
        self.changes.append(change)


async def test_committed_changes_are_announced_and_refused_ones_are_not(db: Database) -> None:
    told = RecordedChanges()
    accounts = Accounts(db, fast_passwords(), changes=told)
    admin = await accounts.register(
        RegisterUser(email="only-admin@example.com", password=PASSWORD, role="admin")
    )
    user = await accounts.register(RegisterUser(email="plain@example.com", password=PASSWORD))
    assert told.changes == []  # a new user has nothing cached anywhere
    await refused(
        ErrorCode.FORBIDDEN, accounts.update_user(UpdateUser(user_id=admin.id, role="user"))
    )
    await refused(ErrorCode.NOT_FOUND, accounts.update_user(UpdateUser(user_id="nobody")))
    assert told.changes == []
    await accounts.update_user(UpdateUser(user_id=user.id, disabled=True))
    key = await accounts.create_api_key(CreateApiKey(user_id=admin.id, name="k"))
    await accounts.revoke_api_key(RevokeApiKey(user_id=admin.id, key_id=key.key.id))
    await accounts.put_settings(
        PutSettings(user_id=admin.id, settings=UserSettings(temperature=0.2))
    )
    assert [(c.kind, c.user_id, c.key_id) for c in told.changes] == [
        ("user", user.id, None),
        ("key", admin.id, key.key.id),
        ("settings", admin.id, None),
    ]
