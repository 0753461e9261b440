"""Bearer JWT authentication: ``AuthUser`` on ``request.user``."""

from chat_api.auth.middleware import JWTAuthMiddleware
from chat_api.auth.tokens import AuthUser, InvalidToken, issue_token, verify_token

__all__ = ["AuthUser", "InvalidToken", "JWTAuthMiddleware", "issue_token", "verify_token"]
