"""Bearer JWTs (HS256): who the caller is, and making tokens for development."""

from __future__ import annotations

import time
from typing import Literal

import jwt
import msgspec

ALGORITHM = "HS256"
Role = Literal["user", "admin"]


class AuthUser(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated caller, on ``request.user`` of every /api and /v1 route."""

    id: str
    role: Role
    key_id: str | None = None
    """Set when the caller authenticated with an API key (not a JWT)."""
    session_id: str | None = None
    """The sign-in session a JWT belongs to (``sid``; none in ``make token``'s tokens): it
    stops working when the session ends (logout, a refresh token used twice)."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class InvalidToken(Exception):
    """The token is missing a claim, expired, or signed with another key."""


def issue_token(
    secret: str,
    user_id: str,
    role: Role = "user",
    ttl_s: float = 3600.0,
    issuer: str | None = None,
    now: float | None = None,
    session_id: str | None = None,
) -> str:
    issued = time.time() if now is None else now
    claims: dict[str, object] = {
        "sub": user_id,
        "role": role,
        "iat": int(issued),
        "exp": int(issued + ttl_s),
    }
    if issuer:
        claims["iss"] = issuer
    if session_id:
        claims["sid"] = session_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str, issuer: str | None = None) -> AuthUser:
    required = ["exp", "sub"] + (["iss"] if issuer else [])
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=issuer, options={"require": required}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    sub = claims.get("sub")
    role = claims.get("role", "user")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("invalid token: sub must be a non-empty string")
    if role not in ("user", "admin"):
        raise InvalidToken("invalid token: role must be user or admin")
    sid = claims.get("sid")
    if sid is not None and (not isinstance(sid, str) or not sid):
        raise InvalidToken("invalid token: sid must be a non-empty string")
    return AuthUser(id=sub, role=role, session_id=sid)
