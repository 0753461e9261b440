"""Conversations (FR-4): create, list, read, rename / re-prompt, delete, export.

Every call names the caller; persistence answers ``not_found`` for another user's
conversation, so the api never sees (nor returns) its data. Admins read any conversation
only through the admin route, and only when ``ADMIN_CAN_READ_CONVERSATIONS`` is on.
"""

from __future__ import annotations

import msgspec

from chat_api.auth import AuthUser
from chat_api.conversations.schemas import ConversationPage, ConversationPatch, NewConversation
from chat_api.errors import ApiError
from chat_api.persistence_client import Persistence
from chat_api.settings import ApiSettings
from contracts.conversations import (
    ConversationDetail,
    ConversationView,
    CreateConversation,
    DeleteConversation,
    GetConversation,
    ListConversations,
    UpdateConversation,
)
from contracts.errors import ErrorCode


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
        self, user: AuthUser, conversation_id: str, any_owner: bool = False
    ) -> ConversationDetail:
        return await self.persistence.get_conversation(
            GetConversation(user_id=user.id, conversation_id=conversation_id, any_owner=any_owner)
        )

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
            return (await self.get(user, conversation_id)).conversation  # nothing to change
        return await self.persistence.update_conversation(
            UpdateConversation(
                user_id=user.id, conversation_id=conversation_id, title=title, system_prompt=prompt
            )
        )

    async def delete(self, user: AuthUser, conversation_id: str) -> None:
        await self.persistence.delete_conversation(
            DeleteConversation(user_id=user.id, conversation_id=conversation_id)
        )
