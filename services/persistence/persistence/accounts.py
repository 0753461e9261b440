"""Accounts: users, credentials, refresh tokens, API keys and per-user settings.

No NATS here: each method takes a wire request (contracts/accounts.py), returns a wire
view, and raises ``DomainError`` for a refusal. ``unauthorized`` never says which check
failed (unknown user, wrong secret, revoked, expired or disabled).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.accounts import (
    AccountChanged,
    AccountChangeKind,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOwner,
    ApiKeyView,
    Authenticate,
    CreateApiKey,
    GetSettings,
    GetUser,
    IssueRefresh,
    ListApiKeys,
    ListUsers,
    PutSettings,
    RefreshIssued,
    RefreshRotated,
    RegisterUser,
    RevokeApiKey,
    RevokeRefresh,
    RotateRefresh,
    UpdateUser,
    UserList,
    UserSettings,
    UserView,
    VerifyApiKey,
)
from contracts.errors import ErrorCode
from contracts.rpc import Ack
from llmchat_sql.database import Database
from persistence.account_changes import AccountChanges
from persistence.credentials import (
    API_KEY_SHOWN_CHARS,
    UNUSABLE_PASSWORD,
    Passwords,
    digest,
    new_api_key,
    new_refresh_token,
    normalise_email,
    password_problem,
)
from persistence.errors import DomainError, invalid, not_found, unauthorized
from persistence.models import ApiKey, RefreshToken, User, UserSettingsRow

log = logging.getLogger(__name__)

DEV_ADMIN_ID = "dev-admin"
DEV_ADMIN_EMAIL = "admin@localhost"
MAX_LIST = 500
MAX_KEY_NAME = 200
MAX_TTL_S = 400 * 24 * 3600.0


def new_id() -> str:
    return uuid.uuid4().hex


def user_view(user: User) -> UserView:
    return UserView(
        id=user.id,
        email=user.email,
        role="admin" if user.role == "admin" else "user",
        disabled=user.disabled,
        created_at=user.created_at,
    )


def key_view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked=key.revoked_at is not None,
    )


def _check_ttl(ttl_s: float) -> None:
    if not (0 < ttl_s <= MAX_TTL_S):
        raise invalid(f"ttl_s must be in (0, {MAX_TTL_S:.0f}]")


def _check_page(limit: int, offset: int) -> None:
    if not (1 <= limit <= MAX_LIST):
        raise invalid(f"limit must be in [1, {MAX_LIST}]")
    if offset < 0:
        raise invalid("offset must be >= 0")


class Accounts:
    def __init__(
        self,
        db: Database,
        passwords: Passwords | None = None,
        clock: Callable[[], float] = time.time,
        changes: AccountChanges | None = None,
    ) -> None:
        self._db = db
        self._passwords = passwords or Passwords()
        self._clock = clock
        self.changes = changes
        """Told after each committed change that cached copies must not outlive."""

    async def _announce(
        self, kind: AccountChangeKind, user_id: str, key_id: str | None = None
    ) -> None:
        if self.changes is not None:
            await self.changes.announce(
                AccountChanged(kind=kind, user_id=user_id, key_id=key_id, at=self._clock())
            )

    # --- users ------------------------------------------------------------------
    async def register(self, req: RegisterUser) -> UserView:
        email = normalise_email(req.email)
        if email is None:
            raise invalid("email is not a valid address")
        problem = password_problem(req.password)
        if problem:
            raise invalid(problem)
        password_hash = await self._passwords.hash(req.password)
        return await self.create_user(email, password_hash, req.role)

    async def create_user(
        self, email: str, password_hash: str, role: str, user_id: str | None = None
    ) -> UserView:
        user = User(
            id=user_id or new_id(),
            email=email,
            password_hash=password_hash,
            role=role,
            disabled=False,
            created_at=self._clock(),
        )
        try:
            async with self._db.write() as s:
                taken = await s.scalar(sa.select(User.id).where(User.email == email))
                if taken is not None:
                    raise DomainError(ErrorCode.CONFLICT, "email already registered")
                s.add(user)
        except IntegrityError:  # a concurrent registration won the race
            raise DomainError(ErrorCode.CONFLICT, "email already registered") from None
        return user_view(user)

    async def authenticate(self, req: Authenticate) -> UserView:
        email = normalise_email(req.email)
        async with self._db.read() as s:
            user = (
                await s.scalar(sa.select(User).where(User.email == email))
                if email is not None
                else None
            )
        matches, rehash = await self._passwords.verify(
            user.password_hash if user else None, req.password
        )
        if user is None or not matches or user.disabled:
            raise unauthorized()
        if rehash:
            new_hash = await self._passwords.hash(req.password)
            async with self._db.write() as s:
                await s.execute(
                    sa.update(User).where(User.id == user.id).values(password_hash=new_hash)
                )
        return user_view(user)

    async def get_user(self, req: GetUser) -> UserView:
        async with self._db.read() as s:
            user = await s.get(User, req.user_id)
            if user is None:
                raise not_found("user")
            if req.session_id is not None and not await self._session_alive(
                s, req.user_id, req.session_id
            ):
                raise unauthorized()
        return user_view(user)

    async def _session_alive(self, s: AsyncSession, user_id: str, session_id: str) -> bool:
        """Some refresh token of the session can still be used (not logged out, not
        revoked for reuse, not expired)."""
        alive = await s.scalar(
            sa.select(RefreshToken.id)
            .where(
                RefreshToken.family_id == session_id,
                RefreshToken.user_id == user_id,
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > self._clock(),
            )
            .limit(1)
        )
        return alive is not None

    async def list_users(self, req: ListUsers) -> UserList:
        _check_page(req.limit, req.offset)
        async with self._db.read() as s:
            total = await s.scalar(sa.select(sa.func.count()).select_from(User))
            users = await s.scalars(
                sa.select(User)
                .order_by(User.created_at, User.id)
                .limit(req.limit)
                .offset(req.offset)
            )
            return UserList(users=[user_view(u) for u in users], total=total or 0)

    async def update_user(self, req: UpdateUser) -> UserView:
        """Role / disabled change. Refuses (forbidden) to leave no enabled admin."""
        async with self._db.write() as s:
            user = await s.get(User, req.user_id, with_for_update=not self._db.is_sqlite)
            if user is None:
                raise not_found("user")
            role = req.role if req.role is not None else user.role
            disabled = req.disabled if req.disabled is not None else user.disabled
            if user.role == "admin" and not user.disabled and (role != "admin" or disabled):
                others = await s.scalar(
                    sa.select(sa.func.count())
                    .select_from(User)
                    .where(User.role == "admin", User.disabled.is_(False), User.id != user.id)
                )
                if not others:
                    raise DomainError(ErrorCode.FORBIDDEN, "cannot remove the last enabled admin")
            user.role = role
            user.disabled = disabled
        await self._announce("user", user.id)
        return user_view(user)

    async def _user(self, s: AsyncSession, user_id: str) -> User:
        user = await s.get(User, user_id)
        if user is None:
            raise not_found("user")
        return user

    # --- refresh tokens -----------------------------------------------------------
    async def issue_refresh(self, req: IssueRefresh) -> RefreshIssued:
        _check_ttl(req.ttl_s)
        async with self._db.write() as s:
            user = await self._user(s, req.user_id)
            if user.disabled:
                raise unauthorized()
            session_id = new_id()
            token, expires_at = self._add_refresh(s, user.id, req.ttl_s, session_id)
        return RefreshIssued(token=token, expires_at=expires_at, session_id=session_id)

    def _add_refresh(
        self, s: AsyncSession, user_id: str, ttl_s: float, session_id: str
    ) -> tuple[str, float]:
        token = new_refresh_token()
        now = self._clock()
        s.add(
            RefreshToken(
                id=new_id(),
                user_id=user_id,
                token_hash=digest(token),
                family_id=session_id,
                created_at=now,
                expires_at=now + ttl_s,
                revoked_at=None,
            )
        )
        return token, now + ttl_s

    async def _end_session(self, s: AsyncSession, session_id: str) -> bool:
        """Revoke the session's tokens; False if it had ended already."""
        ended = await s.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.family_id == session_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        return bool(ended.rowcount)  # type: ignore[attr-defined]

    async def rotate_refresh(self, req: RotateRefresh) -> RefreshRotated:
        """Revoke the presented token and issue a new one of the same session; each token
        works once. A token presented again (already rotated: a copy of it was stolen, or
        the thief used it first) ends its whole session: the successor stops working too,
        and so do the access tokens of the session, on every api instance."""
        _check_ttl(req.ttl_s)
        now = self._clock()
        reused: tuple[str, str] | None = None
        async with self._db.write() as s:
            row = (
                await s.execute(
                    sa.select(RefreshToken, User)
                    .join(User, User.id == RefreshToken.user_id)
                    .where(RefreshToken.token_hash == digest(req.token))
                )
            ).first()
            if row is None:
                raise unauthorized()
            token_row, user = row.tuple()
            if token_row.expires_at <= now or user.disabled:
                raise unauthorized()
            # Conditional update: of two concurrent rotations of one token, one wins and
            # the other is a reuse.
            revoked = await s.execute(
                sa.update(RefreshToken)
                .where(RefreshToken.id == token_row.id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )
            if revoked.rowcount == 1:  # type: ignore[attr-defined]
                session_id = token_row.family_id
                token, expires_at = self._add_refresh(s, user.id, req.ttl_s, session_id)
            elif await self._end_session(s, token_row.family_id):
                reused = (user.id, token_row.family_id)
            else:  # a token of a session that had ended already
                raise unauthorized()
        if reused is not None:
            log.warning("refresh token reused: session %s of %s ended", reused[1], reused[0])
            await self._announce("user", reused[0])
            raise unauthorized()
        return RefreshRotated(
            user=user_view(user), token=token, expires_at=expires_at, session_id=session_id
        )

    async def remove_expired_refresh_tokens(self) -> int:
        """Delete refresh tokens past their expiry (revoked or not: past it a token can be
        neither used nor reused). Returns how many."""
        async with self._db.write() as s:
            removed = await s.execute(
                sa.delete(RefreshToken)
                .where(RefreshToken.expires_at <= self._clock())
                .execution_options(synchronize_session=False)
            )
        return int(removed.rowcount)  # type: ignore[attr-defined]

    async def revoke_refresh(self, req: RevokeRefresh) -> Ack:
        """Log out: end the token's session (its refresh tokens, and so its access tokens
        within the time an announcement takes). Idempotent; an unknown token is fine."""
        async with self._db.write() as s:
            row = (
                await s.execute(
                    sa.select(RefreshToken.user_id, RefreshToken.family_id).where(
                        RefreshToken.token_hash == digest(req.token)
                    )
                )
            ).first()
            if row is None:
                return Ack()
            user_id, session_id = row.tuple()
            ended = await self._end_session(s, session_id)
        if ended:
            await self._announce("user", user_id)
        return Ack()

    # --- API keys -----------------------------------------------------------------
    async def create_api_key(self, req: CreateApiKey) -> ApiKeyCreated:
        name = req.name.strip()
        if not name or len(name) > MAX_KEY_NAME:
            raise invalid(f"name must be 1..{MAX_KEY_NAME} characters")
        secret = new_api_key()
        key = ApiKey(
            id=new_id(),
            user_id=req.user_id,
            name=name,
            prefix=secret[:API_KEY_SHOWN_CHARS],
            key_hash=digest(secret),
            created_at=self._clock(),
            last_used_at=None,
            revoked_at=None,
        )
        async with self._db.write() as s:
            await self._user(s, req.user_id)
            s.add(key)
        return ApiKeyCreated(key=key_view(key), secret=secret)

    async def list_api_keys(self, req: ListApiKeys) -> ApiKeyList:
        async with self._db.read() as s:
            await self._user(s, req.user_id)
            keys = await s.scalars(
                sa.select(ApiKey)
                .where(ApiKey.user_id == req.user_id)
                .order_by(ApiKey.created_at.desc(), ApiKey.id)
            )
            return ApiKeyList(keys=[key_view(k) for k in keys])

    async def revoke_api_key(self, req: RevokeApiKey) -> Ack:
        """Another user's key is ``not_found``; revoking twice is fine."""
        async with self._db.write() as s:
            key = await s.get(ApiKey, req.key_id)
            if key is None or key.user_id != req.user_id:
                raise not_found("API key")
            if key.revoked_at is None:
                key.revoked_at = self._clock()
        await self._announce("key", req.user_id, req.key_id)
        return Ack()

    async def verify_api_key(self, req: VerifyApiKey) -> ApiKeyOwner:
        """The key's owner; records ``last_used_at``. A key that is not valid is found out
        with a read: a flood of bogus keys takes no write lock."""
        async with self._db.read() as s:
            row = (
                await s.execute(
                    sa.select(ApiKey, User)
                    .join(User, User.id == ApiKey.user_id)
                    .where(ApiKey.key_hash == digest(req.secret))
                )
            ).first()
            if row is None:
                raise unauthorized()
            key, user = row.tuple()
            if key.revoked_at is not None or user.disabled:
                raise unauthorized()
            owner = ApiKeyOwner(user=user_view(user), key_id=key.id)
        async with self._db.write() as s:
            await s.execute(
                sa.update(ApiKey)
                .where(ApiKey.id == owner.key_id)
                .values(last_used_at=self._clock())
                .execution_options(synchronize_session=False)
            )
        return owner

    # --- settings -----------------------------------------------------------------
    async def get_settings(self, req: GetSettings) -> UserSettings:
        async with self._db.read() as s:
            await self._user(s, req.user_id)
            row = await s.get(UserSettingsRow, req.user_id)
        return _settings_view(row)

    async def put_settings(self, req: PutSettings) -> UserSettings:
        """Replaces the user's settings as a whole (unset fields become null)."""
        _check_settings(req.settings)
        v = req.settings
        async with self._db.write() as s:
            await self._user(s, req.user_id)
            row = await s.get(UserSettingsRow, req.user_id)
            if row is None:
                row = UserSettingsRow(user_id=req.user_id)
                s.add(row)
            row.system_prompt = v.system_prompt
            row.model = v.model
            row.temperature = v.temperature
            row.top_p = v.top_p
            row.max_tokens = v.max_tokens
        await self._announce("settings", req.user_id)
        return _settings_view(row)

    # --- bootstrap ----------------------------------------------------------------
    async def ensure_dev_admin(self) -> None:
        """The development admin ``dev-admin`` (``make token`` signs tokens for it)."""
        async with self._db.write() as s:
            user = await s.get(User, DEV_ADMIN_ID)
            enabled = user is not None and user.disabled and user.role == "admin"
            if enabled:
                assert user is not None
                user.disabled = False
        if enabled:
            log.info("enabled the development admin %s again (DEV_ADMIN is on)", DEV_ADMIN_ID)
            await self._announce("user", DEV_ADMIN_ID)
            return
        if user is not None:
            if user.role != "admin":
                log.warning("user %s exists but is not an admin; left as is", DEV_ADMIN_ID)
            return
        try:
            await self.create_user(DEV_ADMIN_EMAIL, UNUSABLE_PASSWORD, "admin", DEV_ADMIN_ID)
        except DomainError as exc:
            log.warning("cannot create %s (%s): %s", DEV_ADMIN_ID, DEV_ADMIN_EMAIL, exc.message)
            return
        log.info("created the development admin %s (%s)", DEV_ADMIN_ID, DEV_ADMIN_EMAIL)

    async def retire_dev_admin(self) -> None:
        """Disable ``dev-admin`` if it exists and is enabled (DEV_ADMIN off): the tokens
        ``make token`` signed for it stop working on every api instance."""
        async with self._db.write() as s:
            disabled = await s.execute(
                sa.update(User)
                .where(User.id == DEV_ADMIN_ID, User.disabled.is_(False))
                .values(disabled=True)
                .execution_options(synchronize_session=False)
            )
        if disabled.rowcount:  # type: ignore[attr-defined]
            log.warning("disabled the development admin %s (DEV_ADMIN is off)", DEV_ADMIN_ID)
            await self._announce("user", DEV_ADMIN_ID)

    async def ensure_admin(self, email: str, password: str) -> None:
        """Create the first admin if no user has ``email``; an existing one is left alone."""
        normalised = normalise_email(email)
        if normalised is None:
            log.error("ADMIN_EMAIL %r is not a valid address; no admin created", email)
            return
        async with self._db.read() as s:
            exists = await s.scalar(sa.select(User.id).where(User.email == normalised))
        if exists is not None:
            return
        try:
            await self.register(RegisterUser(email=normalised, password=password, role="admin"))
        except DomainError as exc:
            log.error("cannot create the admin %s: %s", normalised, exc.message)
            return
        log.info("created the admin %s", normalised)


def _settings_view(row: UserSettingsRow | None) -> UserSettings:
    if row is None:
        return UserSettings()
    return UserSettings(
        system_prompt=row.system_prompt,
        model=row.model,
        temperature=row.temperature,
        top_p=row.top_p,
        max_tokens=row.max_tokens,
    )


def _check_settings(v: UserSettings) -> None:
    if v.temperature is not None and not (0.0 <= v.temperature <= 2.0):
        raise invalid("temperature must be in [0, 2]")
    if v.top_p is not None and not (0.0 < v.top_p <= 1.0):
        raise invalid("top_p must be in (0, 1]")
    if v.max_tokens is not None and v.max_tokens < 1:
        raise invalid("max_tokens must be >= 1")
    if v.model is not None and not (0 < len(v.model) <= 200):
        raise invalid("model must be 1..200 characters")
