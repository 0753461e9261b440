"""OpenAI-compatible bodies: ``/v1/chat/completions`` and ``/v1/models``.

Only what the api serves is modelled; unknown request fields are ignored, as the OpenAI
API's optional knobs (penalties, logit_bias, ...) are not supported by the workers.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from chat_api.chat.schemas import MaxTokens, StopList, StopString, Temperature, TopP


class TextPart(msgspec.Struct, frozen=True, kw_only=True):
    type: Literal["text"]
    text: str


class OpenAIMessage(msgspec.Struct, frozen=True, kw_only=True):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(msgspec.Struct, frozen=True, kw_only=True):
    include_usage: bool = False


class CompletionBody(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    messages: Annotated[list[OpenAIMessage], Meta(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    stop: StopString | StopList | None = None
    seed: int | None = None
    n: Annotated[int, Meta(ge=1, le=1)] | None = None
    user: str | None = None


class AssistantMessage(msgspec.Struct, kw_only=True):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(msgspec.Struct, kw_only=True):
    index: int = 0
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


class CompletionUsage(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage | None


class ModelCard(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "llmchat"
    ready: bool
    profile: str | None = None
    """The model-admin profile this name (a profile id or an alias) resolves to."""


class ModelList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[ModelCard]
