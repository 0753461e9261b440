"""Admin work: list users, change a role or disable an account, read any conversation
(only when ``ADMIN_CAN_READ_CONVERSATIONS`` is on)."""

from __future__ import annotations

from chat_api.admin.schemas import UserPage, UserPatch
from chat_api.auth import Authenticator, AuthUser
from chat_api.conversations.service import PAGE_MESSAGES
from chat_api.errors import ApiError
from chat_api.persistence_client import Persistence
from chat_api.settings import ApiSettings
from contracts.accounts import UpdateUser, UserView
from contracts.conversations import ConversationDetail, GetConversation
from contracts.errors import ErrorCode


class AdminService:
    def __init__(
        self, settings: ApiSettings, persistence: Persistence, authenticator: Authenticator
    ) -> None:
        self.settings = settings
        self.persistence = persistence
        self.authenticator = authenticator

    async def users(self, limit: int, offset: int) -> UserPage:
        found = await self.persistence.list_users(limit, offset)
        return UserPage(items=found.users, total=found.total)

    async def update_user(self, user_id: str, patch: UserPatch) -> UserView:
        if patch.role is None and patch.disabled is None:
            raise ApiError(400, ErrorCode.INVALID_REQUEST, "give role and/or disabled")
        user = await self.persistence.update_user(
            UpdateUser(user_id=user_id, role=patch.role, disabled=patch.disabled)
        )
        self.authenticator.forget_user(user_id)
        return user

    async def conversation(
        self,
        admin: AuthUser,
        conversation_id: str,
        *,
        limit: int = PAGE_MESSAGES,
        before: str | None = None,
    ) -> ConversationDetail:
        if not self.settings.admin_can_read_conversations:
            raise ApiError(
                403,
                ErrorCode.FORBIDDEN,
                "admins may not read other users' conversations here "
                "(ADMIN_CAN_READ_CONVERSATIONS is off)",
            )
        return await self.persistence.get_conversation(
            GetConversation(
                user_id=admin.id,
                conversation_id=conversation_id,
                any_owner=True,
                limit=limit,
                before=before,
            )
        )
