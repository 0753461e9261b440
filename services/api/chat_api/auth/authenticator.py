"""``Authenticator``: a bearer credential -> the current ``AuthUser``.

Two kinds of credential: a JWT access token (signature and expiry checked here), or an
API key (``sk-llmchat-...``) that persistence verifies. Either way the user record is
consulted, so a disabled user's tokens and keys stop working and a changed role applies;
a JWT's record is asked for with its sign-in session (``sid``), so its access tokens stop
working once the session ends (logout, a refresh token used twice). Records are cached
per user and session (``AUTH_CACHE_TTL_S``; dropped early when persistence announces a
change, see ``chat_api.cache_invalidation``) so this costs one dict lookup on most
requests.
Without a persistence client (unit apps) JWTs are trusted as signed and API keys refused.
"""

from __future__ import annotations

import hashlib

from chat_api.auth.tokens import AuthUser, InvalidToken, verify_token
from chat_api.errors import ApiError
from chat_api.persistence_client import Persistence
from chat_api.settings import ApiSettings
from chat_api.ttl_cache import TTLCache
from contracts.accounts import API_KEY_PREFIX, ApiKeyOwner, UserView

AUTHENTICATOR_KEY = "authenticator"
"""Where the app state keeps the ``Authenticator`` the middleware uses."""


def _key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Authenticator:
    def __init__(self, settings: ApiSettings, persistence: Persistence | None) -> None:
        self.secret = settings.jwt_secret
        self.issuer = settings.jwt_issuer
        self.persistence = persistence
        self.users: TTLCache[tuple[str, str | None], UserView] = TTLCache(settings.auth_cache_ttl_s)
        """(user id, session id) -> the user's record while that session lasts."""
        self.keys: TTLCache[str, ApiKeyOwner] = TTLCache(settings.auth_cache_ttl_s)

    async def authenticate(self, credential: str) -> AuthUser:
        if credential.startswith(API_KEY_PREFIX):
            owner = await self._key_owner(credential)
            user = owner.user
            if user.disabled:
                raise InvalidToken("the account is disabled")
            return AuthUser(id=user.id, role=user.role, key_id=owner.key_id)
        claims = verify_token(credential, self.secret, self.issuer)
        if self.persistence is None:
            return claims
        user = await self.user(claims.id, claims.session_id)
        if user.disabled:
            raise InvalidToken("the account is disabled")
        return AuthUser(id=user.id, role=user.role, session_id=claims.session_id)

    async def user(self, user_id: str, session_id: str | None = None) -> UserView:
        """The user record (cached); an unknown user, or a session that ended, is
        ``InvalidToken``."""
        key = (user_id, session_id)
        user = self.users.get(key)
        if user is not None:
            return user
        if self.persistence is None:
            raise InvalidToken("accounts are not available")
        try:
            user = await self.persistence.get_user(user_id, session_id)
        except ApiError as exc:
            if exc.status_code == 401:
                raise InvalidToken("the session has ended: sign in again") from None
            if exc.status_code == 404:
                raise InvalidToken("unknown user") from None
            raise
        self.users.put(key, user)
        return user

    async def _key_owner(self, secret: str) -> ApiKeyOwner:
        digest = _key_digest(secret)
        owner = self.keys.get(digest)
        if owner is not None:
            return owner
        if self.persistence is None:
            raise InvalidToken("API keys are not accepted here")
        try:
            owner = await self.persistence.verify_api_key(secret)
        except ApiError as exc:
            if exc.status_code in (400, 401, 403, 404):
                raise InvalidToken("invalid API key") from None
            raise
        self.keys.put(digest, owner)
        return owner

    def forget_user(self, user_id: str) -> None:
        """Drop cached records of ``user_id`` (after an admin change in this instance)."""
        self.users.discard_where(lambda user: user.id == user_id)
        self.keys.discard_where(lambda owner: owner.user.id == user_id)

    def forget_key(self, key_id: str) -> None:
        """Drop a revoked key from the cache so it stops working here at once."""
        self.keys.discard_where(lambda owner: owner.key_id == key_id)

    def forget_all(self) -> None:
        self.users.clear()
        self.keys.clear()
