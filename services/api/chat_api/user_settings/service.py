"""Per-user chat defaults (FR-2, FR-3): read (cached), validate, store.

The chat path asks ``for_user`` on every chat; answers are cached for
``AUTH_CACHE_TTL_S`` (a ``PUT`` through any api instance drops the entry at once: here
directly, elsewhere through persistence's ``AccountChanged``).
"""

from __future__ import annotations

from chat_api.errors import ApiError
from chat_api.persistence_client import Persistence
from chat_api.settings import ApiSettings
from chat_api.ttl_cache import TTLCache
from chat_api.user_settings.schemas import SettingsBody
from contracts.accounts import UserSettings
from contracts.errors import ErrorCode


def validate_settings(settings: ApiSettings, body: SettingsBody) -> UserSettings:
    """Checks that depend on the api settings; static ranges are checked by the schema."""
    if body.model is not None and body.model not in settings.models:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"model {body.model!r} is not served; available: {', '.join(settings.models)}",
            param="model",
        )
    if body.max_tokens is not None and body.max_tokens > settings.max_tokens_limit:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"max_tokens must be at most {settings.max_tokens_limit}",
            param="max_tokens",
        )
    prompt = body.system_prompt
    if prompt is not None and len(prompt) > settings.max_input_chars:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"system_prompt must be at most {settings.max_input_chars} characters",
            param="system_prompt",
        )
    return UserSettings(
        system_prompt=prompt if prompt and prompt.strip() else None,
        model=body.model,
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_tokens,
    )


class UserSettingsService:
    def __init__(self, settings: ApiSettings, persistence: Persistence) -> None:
        self.settings = settings
        self.persistence = persistence
        self._cache: TTLCache[str, UserSettings] = TTLCache(settings.auth_cache_ttl_s)

    async def for_user(self, user_id: str) -> UserSettings:
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        value = await self.persistence.get_settings(user_id)
        self._cache.put(user_id, value)
        return value

    async def replace(self, user_id: str, body: SettingsBody) -> UserSettings:
        value = validate_settings(self.settings, body)
        stored = await self.persistence.put_settings(user_id, value)
        self._cache.discard(user_id)
        return stored

    def forget(self, user_id: str) -> None:
        """Drop the cached settings of ``user_id`` (changed through another instance)."""
        self._cache.discard(user_id)

    def forget_all(self) -> None:
        self._cache.clear()
