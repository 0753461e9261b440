"""Accounts: registration, login / refresh / logout, the current user, API keys."""

from chat_api.accounts.controllers import AuthController, KeysController, MeController
from chat_api.accounts.service import AccountService

__all__ = ["AccountService", "AuthController", "KeysController", "MeController"]
