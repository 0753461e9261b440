"""Bearer authentication (JWT or API key) for every route not marked ``exclude_from_auth``."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from chat_api.auth.authenticator import AUTHENTICATOR_KEY, Authenticator
from chat_api.auth.tokens import InvalidToken
from chat_api.errors import ApiError
from contracts.errors import ErrorCode

_CHALLENGE = 'Bearer realm="llmchat"'

API_KEY_SCOPE = ("/v1/", "/api/chat/")
"""What an API key may reach (and ``/api/chat`` itself): the OpenAI-compatible API and
chats. A stolen key cannot make more keys, read conversations or settings, or reach the
admin routes."""


def key_may_reach(path: str) -> bool:
    return path.startswith(API_KEY_SCOPE) or path == "/api/chat"


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
        if user.key_id is not None and not key_may_reach(connection.scope["path"]):
            raise ApiError(
                403,
                ErrorCode.FORBIDDEN,
                "an API key reaches /v1 and /api/chat only: sign in for the rest",
            )
        return AuthenticationResult(user=user, auth=token)
