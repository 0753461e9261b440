"""Bodies of the account routes (``/api/auth``, ``/api/me``, ``/api/keys``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

# Format and length rules with clear messages live in the service; these bounds only keep
# absurd input out of the decoder.
EmailIn = Annotated[str, Meta(max_length=320)]
PasswordIn = Annotated[str, Meta(max_length=1024)]
TokenIn = Annotated[str, Meta(min_length=1, max_length=2048)]
KeyName = Annotated[str, Meta(min_length=1, max_length=100)]


class Credentials(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: EmailIn
    password: PasswordIn


class RefreshBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    refresh_token: TokenIn


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    """Seconds the access token is valid."""
    refresh_token: str
    refresh_expires_in: int


class KeyBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: KeyName
