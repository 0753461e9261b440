"""Conversations on the wire. Persistence owns them and answers on ``subjects.CONV_*``.

Every request names the ``user_id`` it acts for; persistence answers ``not_found`` for a
conversation of another user, so ownership is enforced where the data lives.
``any_owner`` lifts that for admins, and only the api sets it, only when its setting
allows admins to read other users' conversations.
"""

from __future__ import annotations

from typing import Literal

import msgspec

MessageRole = Literal["system", "user", "assistant"]
MessageStatus = Literal["complete", "cancelled", "failed"]


class MessageView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    role: MessageRole
    content: str
    token_in: int | None = None
    token_out: int | None = None
    status: MessageStatus = "complete"
    request_id: str | None = None
    created_at: float


class ConversationView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    user_id: str
    title: str
    system_prompt: str | None = None
    created_at: float
    updated_at: float
    message_count: int = 0


class CreateConversation(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    title: str = ""
    system_prompt: str | None = None


class ListConversations(msgspec.Struct, frozen=True, kw_only=True):
    """Most recently updated first; ``query`` matches the title (case-insensitive)."""

    user_id: str
    limit: int = 20
    offset: int = 0
    query: str | None = None


class ConversationList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ConversationView]
    total: int


class GetConversation(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    conversation_id: str
    any_owner: bool = False


class ConversationDetail(msgspec.Struct, frozen=True, kw_only=True):
    conversation: ConversationView
    messages: list[MessageView]
    """Oldest first."""


class UpdateConversation(msgspec.Struct, frozen=True, kw_only=True):
    """Unset fields stay as they are; ``system_prompt`` may be set to null to clear it."""

    user_id: str
    conversation_id: str
    title: str | msgspec.UnsetType = msgspec.UNSET
    system_prompt: str | msgspec.UnsetType | None = msgspec.UNSET


class DeleteConversation(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    conversation_id: str
