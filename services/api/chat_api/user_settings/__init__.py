"""Per-user chat defaults: system prompt, model, sampling."""

from chat_api.user_settings.controllers import SettingsController
from chat_api.user_settings.service import UserSettingsService, validate_settings

__all__ = ["SettingsController", "UserSettingsService", "validate_settings"]
