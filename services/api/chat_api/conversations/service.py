"""Conversations (FR-4): create, list, read, rename / re-prompt, delete, export.

Every call names the caller; persistence answers ``not_found`` for another user's
conversation, so the api never sees (nor returns) its data. Admins read any conversation
only through the admin route, and only when ``ADMIN_CAN_READ_CONVERSATIONS`` is on.

Reads are a page of the newest messages (``has_more`` / ``next_before`` lead to older
ones): one persistence reply must stay under the NATS payload limit. The export pages
through persistence to gather the whole conversation.
"""

from __future__ import annotations

import msgspec

from chat_api.auth import AuthUser
from chat_api.conversations.schemas import ConversationPage, ConversationPatch, NewConversation
from chat_api.errors import ApiError
from chat_api.persistence_client import Persistence
from chat_api.settings import ApiSettings
from contracts.conversations import (
    MAX_MESSAGES_PAGE,
    ConversationDetail,
    ConversationView,
    CreateConversation,
    DeleteConversation,
    GetConversation,
    ListConversations,
    UpdateConversation,
)
from contracts.errors import ErrorCode

PAGE_MESSAGES = 100
"""Messages per page of ``GET /api/conversations/{id}`` unless ``limit`` says otherwise."""


class ConversationService:
    def __init__(self, settings: ApiSettings, persistence: Persistence) -> None:
        self.settings = settings
        self.persistence = persistence

    def _check_prompt(self, prompt: str | None) -> str | None:
        if prompt is None:
            return None
        if len(prompt) > self.settings.max_input_chars:
            raise ApiError(
                400,
                ErrorCode.INVALID_REQUEST,
                f"system_prompt must be at most {self.settings.max_input_chars} characters",
                param="system_prompt",
            )
        return prompt if prompt.strip() else None

    async def create(self, user: AuthUser, body: NewConversation) -> ConversationView:
        return await self.persistence.create_conversation(
            CreateConversation(
                user_id=user.id,
                title=body.title.strip(),
                system_prompt=self._check_prompt(body.system_prompt),
            )
        )

    async def list(
        self, user: AuthUser, limit: int, offset: int, query: str | None
    ) -> ConversationPage:
        found = await self.persistence.list_conversations(
            ListConversations(
                user_id=user.id,
                limit=limit,
                offset=offset,
                query=query.strip() if query and query.strip() else None,
            )
        )
        return ConversationPage(items=found.items, total=found.total)

    async def get(
        self,
        user: AuthUser,
        conversation_id: str,
        any_owner: bool = False,
        *,
        limit: int = PAGE_MESSAGES,
        before: str | None = None,
    ) -> ConversationDetail:
        """One page: the newest ``limit`` messages older than ``before`` (that fit)."""
        return await self.persistence.get_conversation(
            GetConversation(
                user_id=user.id,
                conversation_id=conversation_id,
                any_owner=any_owner,
                limit=limit,
                before=before,
            )
        )

    async def whole(self, user: AuthUser, conversation_id: str) -> ConversationDetail:
        """Every message, oldest first, gathered page by page (the export)."""
        request = GetConversation(
            user_id=user.id, conversation_id=conversation_id, limit=MAX_MESSAGES_PAGE
        )
        first = page = await self.persistence.get_conversation(request)
        pages = [page.messages]
        # A page holds at least one message while older ones exist: this ends.
        while page.has_more and page.next_before is not None and page.messages:
            request = msgspec.structs.replace(request, before=page.next_before)
            page = await self.persistence.get_conversation(request)
            pages.append(page.messages)
        messages = [m for older_first in reversed(pages) for m in older_first]
        return ConversationDetail(conversation=first.conversation, messages=messages)

    async def update(
        self, user: AuthUser, conversation_id: str, patch: ConversationPatch
    ) -> ConversationView:
        title = patch.title
        prompt = patch.system_prompt
        if isinstance(title, str):
            title = title.strip()
        if isinstance(prompt, str):
            prompt = self._check_prompt(prompt)
        if title is msgspec.UNSET and prompt is msgspec.UNSET:
            # nothing to change
            return (await self.get(user, conversation_id, limit=0)).conversation
        return await self.persistence.update_conversation(
            UpdateConversation(
                user_id=user.id, conversation_id=conversation_id, title=title, system_prompt=prompt
            )
        )

    async def delete(self, user: AuthUser, conversation_id: str) -> None:
        await self.persistence.delete_conversation(
            DeleteConversation(user_id=user.id, conversation_id=conversation_id)
        )
