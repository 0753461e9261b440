"""Body of ``PUT /api/settings`` (ranges as in the chat body)."""

from __future__ import annotations

import msgspec

from chat_api.chat.schemas import MaxTokens, Temperature, TopP


class SettingsBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole set of defaults: a field left out is cleared (PUT replaces)."""

    system_prompt: str | None = None
    model: str | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_tokens: MaxTokens | None = None
