"""Bearer authentication (JWT or API key) for every route not marked ``exclude_from_auth``."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from chat_api.auth.authenticator import AUTHENTICATOR_KEY, Authenticator
from chat_api.auth.tokens import InvalidToken

_CHALLENGE = 'Bearer realm="llmchat"'


def _unauthorized(message: str, error: str | None = None) -> NotAuthorizedException:
    challenge = f'{_CHALLENGE}, error="{error}"' if error else _CHALLENGE
    return NotAuthorizedException(detail=message, headers={"WWW-Authenticate": challenge})


class JWTAuthMiddleware(AbstractAuthenticationMiddleware):
    """Reads ``Authorization: Bearer <jwt | sk-llmchat-...>``; the ``Authenticator`` on the
    app state decides who that is (persistence unreachable -> 503, never 500)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, exclude=["^/schema"])

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
        authenticator: Authenticator = connection.app.state[AUTHENTICATOR_KEY]
        try:
            user = await authenticator.authenticate(token.strip())
        except InvalidToken as exc:
            raise _unauthorized(str(exc), "invalid_token") from None
        return AuthenticationResult(user=user, auth=token)
