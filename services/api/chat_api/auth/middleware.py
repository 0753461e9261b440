"""Bearer-token authentication for every route not marked ``exclude_from_auth``."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from chat_api.auth.tokens import InvalidToken, verify_token

_CHALLENGE = 'Bearer realm="llmchat"'


def _unauthorized(message: str, error: str | None = None) -> NotAuthorizedException:
    challenge = f'{_CHALLENGE}, error="{error}"' if error else _CHALLENGE
    return NotAuthorizedException(detail=message, headers={"WWW-Authenticate": challenge})


class JWTAuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, secret: str, issuer: str | None = None) -> None:
        super().__init__(app, exclude=["^/schema"])
        self.secret = secret
        self.issuer = issuer

    async def authenticate_request(
        self,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if not header:
            raise _unauthorized("missing bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("authorization must use the Bearer scheme", "invalid_request")
        try:
            user = verify_token(token.strip(), self.secret, self.issuer)
        except InvalidToken as exc:
            raise _unauthorized(str(exc), "invalid_token") from None
        return AuthenticationResult(user=user, auth=token)
