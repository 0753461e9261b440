"""Accounts on the wire: users, credentials, refresh tokens, API keys, user settings.

The persistence service owns this data and answers these requests on the subjects in
``subjects.ACCOUNT_*`` (queue group ``subjects.PERSISTENCE_QUEUE``). Secrets (passwords,
refresh tokens, API keys) cross the wire only in the request that creates or checks them;
persistence stores hashes.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from contracts.subjects import SCHEMA_VERSION

Role = Literal["user", "admin"]

API_KEY_PREFIX = "sk-llmchat-"
"""Every API key starts with this: the api tells keys from JWTs by it."""


class UserView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    email: str
    role: Role
    disabled: bool
    created_at: float


class RegisterUser(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    password: str
    role: Role = "user"


class Authenticate(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    password: str


class GetUser(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    session_id: str | None = None
    """Set: the user only while this sign-in session lasts (401 once logged out, or once
    a refresh token of it was used twice)."""


class ListUsers(msgspec.Struct, frozen=True, kw_only=True):
    limit: int = 50
    offset: int = 0


class UserList(msgspec.Struct, frozen=True, kw_only=True):
    users: list[UserView]
    total: int


class UpdateUser(msgspec.Struct, frozen=True, kw_only=True):
    """Admin change; a disabled user's tokens and API keys stop working at once."""

    user_id: str
    role: Role | None = None
    disabled: bool | None = None


class IssueRefresh(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    ttl_s: float


class RefreshIssued(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    expires_at: float
    session_id: str
    """The sign-in session: every refresh token rotated from this one belongs to it; the
    access tokens carry it (``sid``)."""


class RotateRefresh(msgspec.Struct, frozen=True, kw_only=True):
    """Exchange a refresh token for a new one (the old one is revoked)."""

    token: str
    ttl_s: float


class RefreshRotated(msgspec.Struct, frozen=True, kw_only=True):
    user: UserView
    token: str
    expires_at: float
    session_id: str


class RevokeRefresh(msgspec.Struct, frozen=True, kw_only=True):
    token: str


class ApiKeyView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    prefix: str
    """The first characters of the key, to recognise it in a list."""
    created_at: float
    last_used_at: float | None = None
    revoked: bool = False


class CreateApiKey(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    name: str


class ApiKeyCreated(msgspec.Struct, frozen=True, kw_only=True):
    key: ApiKeyView
    secret: str
    """Shown once; only its hash is stored."""


class ListApiKeys(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str


class ApiKeyList(msgspec.Struct, frozen=True, kw_only=True):
    keys: list[ApiKeyView]


class RevokeApiKey(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    key_id: str


class VerifyApiKey(msgspec.Struct, frozen=True, kw_only=True):
    secret: str


class ApiKeyOwner(msgspec.Struct, frozen=True, kw_only=True):
    user: UserView
    key_id: str


class UserSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Per-user defaults applied to a chat that does not say otherwise (FR-2, FR-3)."""

    system_prompt: str | None = None
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


class GetSettings(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str


class PutSettings(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    settings: UserSettings


AccountChangeKind = Literal["user", "key", "settings"]


class AccountChanged(msgspec.Struct, frozen=True, kw_only=True):
    """On ``ACCOUNT_CHANGES`` (core): what persistence changed, for caches to drop.

    ``user``: role or disabled flag; ``key``: an API key was revoked (``key_id``);
    ``settings``: the user's chat defaults.
    """

    kind: AccountChangeKind
    user_id: str
    key_id: str | None = None
    at: float
    v: int = SCHEMA_VERSION
