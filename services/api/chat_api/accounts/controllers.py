"""``/api/auth/*`` (register, login, refresh, logout), ``GET /api/me``, ``/api/keys``."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post

from chat_api.accounts.schemas import Credentials, KeyBody, RefreshBody, TokenPair
from chat_api.accounts.service import AccountService
from chat_api.auth import AuthUser
from contracts.accounts import ApiKeyCreated, ApiKeyView, UserView

PUBLIC = {"exclude_from_auth": True}


class KeyList(msgspec.Struct, kw_only=True):
    keys: list[ApiKeyView]


def client_address(request: Request[Any, Any, Any]) -> str | None:
    """The peer's address (behind a reverse proxy, the proxy's: set it to pass the
    client's own, e.g. uvicorn's --proxy-headers with --forwarded-allow-ips)."""
    return request.client.host if request.client is not None else None


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    @post("/register", status_code=201, opt=PUBLIC, summary="Create an account")
    async def register(
        self, request: Request[Any, Any, Any], data: Credentials, accounts: AccountService
    ) -> UserView:
        return await accounts.register(data.email, data.password, client_address(request))

    @post("/login", status_code=200, opt=PUBLIC, summary="Access + refresh token for a password")
    async def login(
        self, request: Request[Any, Any, Any], data: Credentials, accounts: AccountService
    ) -> TokenPair:
        return await accounts.login(data.email, data.password, client_address(request))

    @post("/refresh", status_code=200, opt=PUBLIC, summary="Trade a refresh token for a new pair")
    async def refresh(self, data: RefreshBody, accounts: AccountService) -> TokenPair:
        return await accounts.refresh(data.refresh_token)

    @post("/logout", status_code=204, summary="Revoke a refresh token")
    async def logout(self, data: RefreshBody, accounts: AccountService) -> None:
        await accounts.logout(data.refresh_token)


class MeController(Controller):
    path = "/api/me"
    tags = ["accounts"]

    @get("/", summary="The current user")
    async def me(self, request: Request[AuthUser, str, Any], accounts: AccountService) -> UserView:
        return await accounts.me(request.user)


class KeysController(Controller):
    path = "/api/keys"
    tags = ["accounts"]

    @post("/", status_code=201, summary="Create an API key (its secret is shown once)")
    async def create(
        self, request: Request[AuthUser, str, Any], data: KeyBody, accounts: AccountService
    ) -> ApiKeyCreated:
        return await accounts.create_key(request.user, data.name)

    @get("/", summary="The caller's API keys")
    async def list_keys(
        self, request: Request[AuthUser, str, Any], accounts: AccountService
    ) -> KeyList:
        return KeyList(keys=await accounts.list_keys(request.user))

    @delete("/{key_id:str}", status_code=204, summary="Revoke one of the caller's API keys")
    async def revoke(
        self, request: Request[AuthUser, str, Any], key_id: str, accounts: AccountService
    ) -> None:
        await accounts.revoke_key(request.user, key_id)
