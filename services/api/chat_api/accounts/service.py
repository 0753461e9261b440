"""Accounts: register, log in, refresh, log out, the current user, API keys.

Access tokens are short-lived JWTs signed here (``sub`` = user id, ``role``); refresh
tokens and API keys are opaque secrets that persistence issues, stores hashed and checks.
"""

from __future__ import annotations

import re
import time

from chat_api.accounts.schemas import TokenPair
from chat_api.accounts.throttle import AuthThrottle
from chat_api.auth import Authenticator, AuthUser, issue_token
from chat_api.errors import ApiError
from chat_api.persistence_client import Persistence
from chat_api.settings import ApiSettings
from contracts.accounts import ApiKeyCreated, ApiKeyView, Authenticate, RegisterUser, UserView
from contracts.errors import ErrorCode

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
BAD_LOGIN = "invalid email or password"


def normalize_email(email: str) -> str:
    """The stored form of an address; 400 when it is not one."""
    value = email.strip().lower()
    if len(value) > 254 or not EMAIL.match(value):
        raise ApiError(400, ErrorCode.INVALID_REQUEST, "not a valid email address", param="email")
    return value


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"password must be at least {MIN_PASSWORD} characters",
            param="password",
        )
    if len(password) > MAX_PASSWORD:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"password must be at most {MAX_PASSWORD} characters",
            param="password",
        )


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401, ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": 'Bearer realm="llmchat"'}
    )


class AccountService:
    def __init__(
        self,
        settings: ApiSettings,
        persistence: Persistence,
        authenticator: Authenticator,
        throttle: AuthThrottle | None = None,
    ) -> None:
        self.settings = settings
        self.persistence = persistence
        self.authenticator = authenticator
        self.throttle = throttle
        """Counts sign-in and registration attempts (None: not counted)."""

    async def register(self, email: str, password: str, address: str | None = None) -> UserView:
        if not self.settings.allow_registration:
            raise ApiError(403, ErrorCode.FORBIDDEN, "registration is turned off")
        if self.throttle is not None:
            await self.throttle.attempt("register", address, None)
        address = normalize_email(email)
        check_password(password)
        return await self.persistence.register(RegisterUser(email=address, password=password))

    async def login(self, email: str, password: str, address: str | None = None) -> TokenPair:
        if not email.strip() or not password:
            raise _unauthorized(BAD_LOGIN)
        if self.throttle is not None:
            await self.throttle.attempt("login", address, email)
        try:
            user = await self.persistence.authenticate(
                Authenticate(email=email.strip().lower(), password=password)
            )
        except ApiError as exc:
            if exc.status_code in (400, 401, 403, 404):
                raise _unauthorized(BAD_LOGIN) from None
            raise
        if user.disabled:
            raise _unauthorized("the account is disabled")
        issued = await self.persistence.issue_refresh(user.id, self.settings.refresh_token_ttl_s)
        return self._pair(user, issued.token, issued.expires_at, issued.session_id)

    async def refresh(self, token: str) -> TokenPair:
        try:
            rotated = await self.persistence.rotate_refresh(
                token, self.settings.refresh_token_ttl_s
            )
        except ApiError as exc:
            if exc.status_code in (400, 401, 403, 404):
                raise _unauthorized("invalid or expired refresh token") from None
            raise
        if rotated.user.disabled:
            await self.persistence.revoke_refresh(rotated.token)
            raise _unauthorized("the account is disabled")
        return self._pair(rotated.user, rotated.token, rotated.expires_at, rotated.session_id)

    async def logout(self, token: str) -> None:
        """Revoke the refresh token; an unknown or already revoked one is fine (idempotent)."""
        try:
            await self.persistence.revoke_refresh(token)
        except ApiError as exc:
            if exc.status_code not in (400, 401, 404):
                raise

    async def me(self, user: AuthUser) -> UserView:
        return await self.authenticator.user(user.id, user.session_id)

    def _pair(
        self, user: UserView, refresh_token: str, refresh_expires_at: float, session_id: str
    ) -> TokenPair:
        ttl = self.settings.access_token_ttl_s
        access = issue_token(
            self.settings.jwt_secret,
            user.id,
            role=user.role,
            ttl_s=ttl,
            issuer=self.settings.jwt_issuer,
            session_id=session_id,
        )
        return TokenPair(
            access_token=access,
            expires_in=int(ttl),
            refresh_token=refresh_token,
            refresh_expires_in=max(0, int(refresh_expires_at - time.time())),
        )

    # --- API keys -------------------------------------------------------------------
    async def create_key(self, user: AuthUser, name: str) -> ApiKeyCreated:
        clean = name.strip()
        if not clean:
            raise ApiError(400, ErrorCode.INVALID_REQUEST, "name must not be blank", param="name")
        return await self.persistence.create_api_key(user.id, clean)

    async def list_keys(self, user: AuthUser) -> list[ApiKeyView]:
        return (await self.persistence.list_api_keys(user.id)).keys

    async def revoke_key(self, user: AuthUser, key_id: str) -> None:
        """404 unless the key is the caller's (persistence scopes by user)."""
        await self.persistence.revoke_api_key(user.id, key_id)
        self.authenticator.forget_key(key_id)
