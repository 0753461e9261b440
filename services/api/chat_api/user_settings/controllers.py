"""``GET /api/settings`` and ``PUT /api/settings``: the caller's chat defaults."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put

from chat_api.auth import AuthUser
from chat_api.user_settings.schemas import SettingsBody
from chat_api.user_settings.service import UserSettingsService
from contracts.accounts import UserSettings


class SettingsController(Controller):
    path = "/api/settings"
    tags = ["settings"]

    @get("/", summary="The caller's chat defaults")
    async def get_settings(
        self, request: Request[AuthUser, str, Any], user_settings: UserSettingsService
    ) -> UserSettings:
        return await user_settings.for_user(request.user.id)

    @put("/", summary="Replace the caller's chat defaults")
    async def put_settings(
        self,
        request: Request[AuthUser, str, Any],
        data: SettingsBody,
        user_settings: UserSettingsService,
    ) -> UserSettings:
        return await user_settings.replace(request.user.id, data)
