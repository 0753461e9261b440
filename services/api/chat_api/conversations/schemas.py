"""Bodies of the conversation routes."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from contracts.conversations import ConversationDetail, ConversationView

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


class ConversationRead(ConversationDetail, frozen=True, kw_only=True):
    """``GET /api/conversations/{id}``: a page of the conversation, and its chat still
    generating, if any (a client re-attaches with ``GET /api/chat/{id}/events``)."""

    active_request_id: str | None = None

    @classmethod
    def of(cls, detail: ConversationDetail, active_request_id: str | None) -> ConversationRead:
        return cls(
            conversation=detail.conversation,
            messages=detail.messages,
            has_more=detail.has_more,
            next_before=detail.next_before,
            active_request_id=active_request_id,
        )
