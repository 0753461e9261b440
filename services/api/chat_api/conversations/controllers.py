"""``/api/conversations``: CRUD, export (JSON / Markdown)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from chat_api.auth import AuthUser
from chat_api.chat import ChatService
from chat_api.conversations.export import ExportFormat, export_filename, render
from chat_api.conversations.schemas import (
    ConversationPage,
    ConversationPatch,
    ConversationRead,
    NewConversation,
)
from chat_api.conversations.service import PAGE_MESSAGES, ConversationService
from contracts.conversations import MAX_MESSAGES_PAGE, ConversationView

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size, 1..100")]
Offset = Annotated[int, Parameter(ge=0, description="items to skip")]
Query = Annotated[str | None, Parameter(max_length=200, description="title contains")]
MessageLimit = Annotated[
    int,
    Parameter(
        ge=1,
        le=MAX_MESSAGES_PAGE,
        description=f"at most this many of the newest messages, 1..{MAX_MESSAGES_PAGE}",
    ),
]
Before = Annotated[
    str | None,
    Parameter(
        min_length=1,
        max_length=64,
        description="only messages older than this message id (next_before of a page)",
    ),
]


class ConversationController(Controller):
    path = "/api/conversations"
    tags = ["conversations"]

    @post("/", status_code=201, summary="Start a conversation")
    async def create(
        self,
        request: Request[AuthUser, str, Any],
        data: NewConversation,
        conversations: ConversationService,
    ) -> ConversationView:
        return await conversations.create(request.user, data)

    @get("/", summary="The caller's conversations, most recent first")
    async def list_conversations(
        self,
        request: Request[AuthUser, str, Any],
        conversations: ConversationService,
        limit: Limit = 20,
        offset: Offset = 0,
        q: Query = None,
    ) -> ConversationPage:
        return await conversations.list(request.user, limit, offset, q)

    @get(
        "/{conversation_id:str}",
        summary="A conversation and a page of its newest messages, oldest first",
        description=(
            "has_more: older messages exist; ask again with before=next_before. "
            "active_request_id: its chat still generating (re-attach with "
            "GET /api/chat/{id}/events), else null."
        ),
    )
    async def read(
        self,
        request: Request[AuthUser, str, Any],
        conversation_id: str,
        conversations: ConversationService,
        chat_service: ChatService,
        limit: MessageLimit = PAGE_MESSAGES,
        before: Before = None,
    ) -> ConversationRead:
        detail = await conversations.get(request.user, conversation_id, limit=limit, before=before)
        running = await chat_service.running_chat(detail.conversation.id)
        return ConversationRead.of(detail, running)

    @patch("/{conversation_id:str}", summary="Rename, or set / clear the system prompt")
    async def update(
        self,
        request: Request[AuthUser, str, Any],
        conversation_id: str,
        data: ConversationPatch,
        conversations: ConversationService,
    ) -> ConversationView:
        return await conversations.update(request.user, conversation_id, data)

    @delete("/{conversation_id:str}", status_code=204, summary="Delete a conversation")
    async def remove(
        self,
        request: Request[AuthUser, str, Any],
        conversation_id: str,
        conversations: ConversationService,
    ) -> None:
        await conversations.delete(request.user, conversation_id)

    @get("/{conversation_id:str}/export", summary="Download as JSON or Markdown")
    async def export(
        self,
        request: Request[AuthUser, str, Any],
        conversation_id: str,
        conversations: ConversationService,
        export_format: Annotated[ExportFormat, Parameter(query="format")] = "json",
    ) -> Response[bytes]:
        detail = await conversations.whole(request.user, conversation_id)
        body, media_type = render(detail, export_format)
        filename = export_filename(conversation_id, export_format)
        return Response(
            body,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
