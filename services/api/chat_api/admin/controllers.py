"""``/api/admin``: user management (role admin only; others get 403)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch
from litestar.params import Parameter

from chat_api.admin.schemas import UserPage, UserPatch
from chat_api.admin.service import AdminService
from chat_api.auth import AuthUser, admin_only
from chat_api.conversations.controllers import Before, MessageLimit
from chat_api.conversations.service import PAGE_MESSAGES
from contracts.accounts import UserView
from contracts.conversations import ConversationDetail

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size, 1..100")]
Offset = Annotated[int, Parameter(ge=0, description="items to skip")]


class AdminController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    guards = [admin_only]

    @get("/users", summary="All users, paginated")
    async def users(self, admin: AdminService, limit: Limit = 50, offset: Offset = 0) -> UserPage:
        return await admin.users(limit, offset)

    @patch("/users/{user_id:str}", summary="Change a user's role or disable / enable them")
    async def update_user(self, user_id: str, data: UserPatch, admin: AdminService) -> UserView:
        return await admin.update_user(user_id, data)

    @get(
        "/conversations/{conversation_id:str}",
        summary="Any user's conversation (only with ADMIN_CAN_READ_CONVERSATIONS=true)",
    )
    async def conversation(
        self,
        request: Request[AuthUser, str, Any],
        conversation_id: str,
        admin: AdminService,
        limit: MessageLimit = PAGE_MESSAGES,
        before: Before = None,
    ) -> ConversationDetail:
        return await admin.conversation(request.user, conversation_id, limit=limit, before=before)
