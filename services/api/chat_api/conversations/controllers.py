"""``/api/conversations``: CRUD, export (JSON / Markdown)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from chat_api.auth import AuthUser
from chat_api.conversations.export import ExportFormat, export_filename, render
from chat_api.conversations.schemas import ConversationPage, ConversationPatch, NewConversation
from chat_api.conversations.service import ConversationService
from contracts.conversations import ConversationDetail, ConversationView

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size, 1..100")]
Offset = Annotated[int, Parameter(ge=0, description="items to skip")]
Query = Annotated[str | None, Parameter(max_length=200, description="title contains")]


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

    @get("/{conversation_id:str}", summary="A conversation and its messages, oldest first")
    async def read(
        self,
        request: Request[AuthUser, str, Any],
        conversation_id: str,
        conversations: ConversationService,
    ) -> ConversationDetail:
        return await conversations.get(request.user, conversation_id)

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
        detail = await conversations.get(request.user, conversation_id)
        body, media_type = render(detail, export_format)
        filename = export_filename(conversation_id, export_format)
        return Response(
            body,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
