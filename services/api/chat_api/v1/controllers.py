"""OpenAI-compatible routes: ``POST /v1/chat/completions`` and ``GET /v1/models``."""

from __future__ import annotations

import time
from contextlib import aclosing
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Stream

from chat_api.auth import AuthUser
from chat_api.chat.service import ChatService, ChatSpec
from chat_api.chat.sse import EventStream
from chat_api.errors import STATUS_OF_CODE, ApiError, request_id_of
from chat_api.http_exchange import arrived_ns
from chat_api.relay import StreamFailure
from chat_api.v1.schemas import (
    AssistantMessage,
    ChatCompletion,
    Choice,
    CompletionBody,
    CompletionUsage,
    ModelCard,
    ModelList,
)
from chat_api.v1.stream import completion_frames, completion_id
from contracts.errors import ErrorCode
from contracts.inference import ChatMessage, SamplingParams


def spec_from_completion(body: CompletionBody) -> ChatSpec:
    messages = tuple(
        ChatMessage(role="system" if m.role == "developer" else m.role, content=m.text())
        for m in body.messages
    )
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    max_tokens = (
        body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    )
    sampling = SamplingParams(
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=max_tokens,
        stop=stop,
        seed=body.seed,
    )
    return ChatSpec(messages=messages, model=body.model, sampling=sampling)


class OpenAIController(Controller):
    path = "/v1"
    tags = ["openai"]

    @post("/chat/completions", status_code=200, summary="OpenAI-compatible chat completion")
    async def chat_completions(
        self, request: Request[AuthUser, str, Any], data: CompletionBody, chat_service: ChatService
    ) -> Stream | ChatCompletion:
        relay = await chat_service.start(
            request.user,
            spec_from_completion(data),
            request_id_of(request.scope),
            arrived_ns=arrived_ns(request.scope),
        )
        created = int(time.time())
        if data.stream:
            include_usage = data.stream_options is not None and data.stream_options.include_usage
            return EventStream(completion_frames(relay, created, include_usage))
        parts: list[str] = []
        # aclosing: leaving early (an error, the answer) closes the relay now, which
        # cancels the generation and settles the limits, not whenever the GC gets to it.
        async with aclosing(relay.events()) as items:
            async for item in items:
                if isinstance(item, StreamFailure):
                    raise ApiError(STATUS_OF_CODE.get(item.code, 500), item.code, item.message)
                parts.append(item.text)
                if item.finish_reason is not None:
                    usage = item.usage
                    return ChatCompletion(
                        id=completion_id(relay.request_id),
                        created=created,
                        model=relay.request.model,
                        choices=[
                            Choice(
                                message=AssistantMessage(content="".join(parts)),
                                finish_reason=item.finish_reason,
                            )
                        ],
                        usage=None
                        if usage is None
                        else CompletionUsage(
                            prompt_tokens=usage.prompt_tokens,
                            completion_tokens=usage.completion_tokens,
                            total_tokens=usage.total_tokens,
                        ),
                    )
        raise ApiError(500, ErrorCode.INTERNAL, "the stream ended without an answer")

    @get("/models", summary="Models this api serves (OpenAI shape)")
    async def models(self, chat_service: ChatService) -> ModelList:
        """The ``MODELS`` names, then (when model-admin answers) every profile users may
        pick and each of its aliases; ``ready`` = a live worker can take it now."""
        workers = chat_service.gateway.workers
        cards = [
            ModelCard(id=name, ready=workers.serves(name)) for name in chat_service.settings.models
        ]
        seen = {card.id for card in cards}
        profiles = await chat_service.router.profiles()
        for profile in profiles.profiles if profiles is not None else []:
            ready = profile.ready_workers > 0
            for name in (profile.id, *profile.aliases):
                if name not in seen:
                    seen.add(name)
                    cards.append(ModelCard(id=name, ready=ready, profile=profile.id))
        return ModelList(data=cards)
