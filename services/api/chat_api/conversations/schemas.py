"""Bodies of the conversation routes."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from contracts.conversations import ConversationView

Title = Annotated[str, Meta(max_length=200)]


class NewConversation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    title: Title = ""
    system_prompt: str | None = None


class ConversationPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fields left out stay as they are; ``system_prompt: null`` clears it."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    system_prompt: str | msgspec.UnsetType | None = msgspec.UNSET


class ConversationPage(msgspec.Struct, kw_only=True):
    items: list[ConversationView]
    total: int
