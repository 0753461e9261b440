"""``POST /api/chat`` (SSE), ``GET /api/chat/{request_id}/events`` (re-attach, SSE) and
``POST /api/chat/{request_id}/cancel``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Stream

from chat_api.auth import AuthUser
from chat_api.chat.schemas import CancelResult, ChatBody
from chat_api.chat.service import ChatService, ChatSpec
from chat_api.chat.sse import SSE_MEDIA_TYPE, EventStream, chat_frames
from chat_api.errors import ApiError, request_id_of
from chat_api.http_exchange import arrived_ns
from contracts.errors import ErrorCode
from contracts.inference import ChatMessage, SamplingParams

MAX_EVENT_ID = 10**9


def parse_last_event_id(value: str | None) -> int:
    """The ``Last-Event-ID`` header (a chunk seq) or -1 without one; 400 if malformed."""
    if value is None or not value.strip():
        return -1
    text = value.strip()
    if not text.isdigit() or int(text) > MAX_EVENT_ID:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            "Last-Event-ID must be the id of a token event (a number)",
            param="Last-Event-ID",
        )
    return int(text)


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
            request.user,
            spec_from_body(data),
            request_id_of(request.scope),
            detach_grace_s=chat_service.settings.chat_detach_grace_s,
            queue_updates=True,
            arrived_ns=arrived_ns(request.scope),
        )
        return EventStream(chat_frames(relay))

    @get(
        "/{request_id:str}/events",
        media_type=SSE_MEDIA_TYPE,
        summary="Re-attach to a chat's answer (after a reload or a lost connection)",
        description=(
            "Server-sent events like POST /api/chat: `start`, the tokens after the "
            "`Last-Event-ID` header (all of them without it), then `done` or `error`. "
            "404 unknown or not the caller's; 410 stream_expired once the answer's "
            "chunks are no longer kept (read it from its conversation)."
        ),
    )
    async def events(
        self,
        request: Request[AuthUser, str, Any],
        request_id: str,
        chat_service: ChatService,
        last_event_id: Annotated[
            str | None, Parameter(header="Last-Event-ID", required=False)
        ] = None,
    ) -> Stream:
        relay = await chat_service.attach(
            request.user, request_id, parse_last_event_id(last_event_id), queue_updates=True
        )
        return EventStream(chat_frames(relay))

    @post("/{request_id:str}/cancel", status_code=202, summary="Cancel a running chat")
    async def cancel(
        self, request: Request[AuthUser, str, Any], request_id: str, chat_service: ChatService
    ) -> CancelResult:
        if not await chat_service.cancel(request.user, request_id):
            raise ApiError(404, ErrorCode.NOT_FOUND, f"no running chat {request_id!r}")
        return CancelResult(request_id=request_id)
