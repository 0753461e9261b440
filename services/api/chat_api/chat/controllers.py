"""``POST /api/chat`` (SSE) and ``POST /api/chat/{request_id}/cancel``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.response import Stream

from chat_api.auth import AuthUser
from chat_api.chat.schemas import CancelResult, ChatBody
from chat_api.chat.service import ChatService, ChatSpec
from chat_api.chat.sse import SSE_HEADERS, SSE_MEDIA_TYPE, chat_frames
from chat_api.errors import ApiError, request_id_of
from contracts.errors import ErrorCode
from contracts.inference import ChatMessage, SamplingParams


def spec_from_body(body: ChatBody) -> ChatSpec:
    messages = tuple(ChatMessage(role=m.role, content=m.content) for m in body.messages)
    if body.system_prompt:
        messages = (ChatMessage(role="system", content=body.system_prompt), *messages)
    sampling = SamplingParams(
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_tokens,
        stop=tuple(body.stop or ()),
        seed=body.seed,
    )
    return ChatSpec(
        messages=messages,
        model=body.model,
        sampling=sampling,
        timeout_s=body.timeout_s,
        conversation_id=body.conversation_id,
    )


class ChatController(Controller):
    path = "/api/chat"
    tags = ["chat"]

    @post(
        "/",
        status_code=200,
        media_type=SSE_MEDIA_TYPE,
        summary="Stream a chat answer as server-sent events",
    )
    async def chat(
        self, request: Request[AuthUser, str, Any], data: ChatBody, chat_service: ChatService
    ) -> Stream:
        relay = await chat_service.start(
            request.user, spec_from_body(data), request_id_of(request.scope)
        )
        return Stream(chat_frames(relay), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)

    @post("/{request_id:str}/cancel", status_code=202, summary="Cancel a running chat")
    async def cancel(
        self, request: Request[AuthUser, str, Any], request_id: str, chat_service: ChatService
    ) -> CancelResult:
        if not await chat_service.cancel(request.user, request_id):
            raise ApiError(404, ErrorCode.NOT_FOUND, f"no running chat {request_id!r}")
        return CancelResult(request_id=request_id)
