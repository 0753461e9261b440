"""Route guards: ``admin_only`` answers 403 ``forbidden`` to anyone but an admin."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import HttpMethod
from litestar.handlers.base import BaseRouteHandler

from chat_api.auth.tokens import AuthUser
from chat_api.errors import ApiError
from contracts.errors import ErrorCode


def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    # The auth middleware lets OPTIONS through unauthenticated (no user in the scope), and
    # Litestar's automatic OPTIONS handler inherits the controller's guards: reading
    # ``connection.user`` there was a 500. It only lists the allowed methods, as on every
    # other route.
    if isinstance(connection, Request) and connection.method == HttpMethod.OPTIONS:
        return
    user = connection.user
    if not isinstance(user, AuthUser) or not user.is_admin:
        raise ApiError(403, ErrorCode.FORBIDDEN, "this route is for admins only")
