"""Bearer authentication (JWT access tokens, API keys): ``AuthUser`` on ``request.user``."""

from chat_api.auth.authenticator import AUTHENTICATOR_KEY, Authenticator
from chat_api.auth.guards import admin_only
from chat_api.auth.middleware import JWTAuthMiddleware
from chat_api.auth.tokens import AuthUser, InvalidToken, issue_token, verify_token
from contracts.accounts import API_KEY_PREFIX

__all__ = [
    "API_KEY_PREFIX",
    "AUTHENTICATOR_KEY",
    "AuthUser",
    "Authenticator",
    "InvalidToken",
    "JWTAuthMiddleware",
    "admin_only",
    "issue_token",
    "verify_token",
]
