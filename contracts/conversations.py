"""Conversations on the wire. Persistence owns them and answers on ``subjects.CONV_*``.

Every request names the ``user_id`` it acts for; persistence answers ``not_found`` for a
conversation of another user, so ownership is enforced where the data lives.
``any_owner`` lifts that for admins, and only the api sets it, only when its setting
allows admins to read other users' conversations.

A conversation's messages come a page at a time (``GetConversation`` -> ``ConversationDetail``):
the newest that fit, oldest first, with ``has_more`` / ``next_before`` to reach older ones.
Every reply stays within persistence's own byte budget (well under NATS's 1 MB payload),
whatever the caller asks. The paging fields were added with defaults (a caller that sends
none gets the newest page), so the subject keeps its ``v1``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

MessageRole = Literal["system", "user", "assistant"]
MessageStatus = Literal["complete", "cancelled", "failed"]

MAX_MESSAGES_PAGE = 1000
"""Largest ``GetConversation.limit``, and the page size when it is None."""

TRUNCATION_MARKER = (
    "\n\n[truncated: the message has {total} characters; the first {shown} are shown]"
)
"""Appended to the beginning of a message too large for a reply on its own (with
``MessageView.truncated``). Only a message beyond persistence's whole reply budget (512 KB
by default) is cut, which the api's input and ``max_tokens`` limits keep far away."""


class MessageView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    role: MessageRole
    content: str
    token_in: int | None = None
    token_out: int | None = None
    status: MessageStatus = "complete"
    request_id: str | None = None
    created_at: float
    truncated: bool = False
    """``content`` is the beginning of the message, followed by ``TRUNCATION_MARKER``."""


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
    """The conversation and one page of its messages: the newest ones (older than
    ``before``, of the filters) that fit ``limit``, ``max_chars`` and persistence's reply
    budget, oldest first. A page of ``limit >= 1`` holds at least one message when one is
    left, whatever its size, so paging always moves on."""

    user_id: str
    conversation_id: str
    any_owner: bool = False
    limit: int | None = None
    """At most this many messages, 0..``MAX_MESSAGES_PAGE`` (0: the conversation alone);
    None: ``MAX_MESSAGES_PAGE``."""
    before: str | None = None
    """Only messages older than this message of the conversation (the ``next_before`` of
    the previous page); messages are ordered by ``(created_at, id)``, so equal times are
    stable. An id that is not one of the conversation's messages is ``invalid_request``."""
    max_chars: int | None = None
    """The page's ``content`` totals at most this many characters (>= 0), but for the one
    message a page always holds. None: only the reply budget."""
    statuses: tuple[MessageStatus, ...] | None = None
    """Only messages of these statuses (None: all)."""
    skip_empty: bool = False
    """Leave out messages with empty ``content`` (a cancel before the first token)."""


class ConversationDetail(msgspec.Struct, frozen=True, kw_only=True):
    conversation: ConversationView
    """``message_count`` counts every message of the conversation, not just this page."""
    messages: list[MessageView]
    """Oldest first."""
    has_more: bool = False
    """Older messages (of the request's filters) exist than the first of ``messages``."""
    next_before: str | None = None
    """With ``has_more``: the ``before`` of the next (older) page, the id of
    ``messages[0]``. None when nothing is older, or the page is empty (``limit=0``)."""


class UpdateConversation(msgspec.Struct, frozen=True, kw_only=True):
    """Unset fields stay as they are; ``system_prompt`` may be set to null to clear it."""

    user_id: str
    conversation_id: str
    title: str | msgspec.UnsetType = msgspec.UNSET
    system_prompt: str | msgspec.UnsetType | None = msgspec.UNSET


class DeleteConversation(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    conversation_id: str
