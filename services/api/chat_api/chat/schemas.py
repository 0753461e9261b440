"""Request bodies of ``POST /api/chat`` (validated by msgspec while Litestar decodes)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Temperature = Annotated[float, Meta(ge=0.0, le=2.0)]
TopP = Annotated[float, Meta(gt=0.0, le=1.0)]
MaxTokens = Annotated[int, Meta(ge=1)]
TimeoutS = Annotated[float, Meta(gt=0.0)]
MAX_STOP_CHARS = 256
"""Longest stop string: the engine scans every step's text for each one."""
StopString = Annotated[str, Meta(min_length=1, max_length=MAX_STOP_CHARS)]
StopList = Annotated[list[StopString], Meta(max_length=4)]


class MessageIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    messages: Annotated[list[MessageIn], Meta(min_length=1)]
    model: str | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_tokens: MaxTokens | None = None
    stop: StopList | None = None
    seed: int | None = None
    system_prompt: str | None = None
    timeout_s: TimeoutS | None = None
    conversation_id: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    """Continue this saved conversation: ``messages`` are the NEW turn(s) (the last one a
    user message); the stored history and system prompt are put in front of them."""


class CancelResult(msgspec.Struct, frozen=True, kw_only=True):
    request_id: str
    status: Literal["cancelling"] = "cancelling"
