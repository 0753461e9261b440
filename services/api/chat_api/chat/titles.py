"""Automatic conversation titles (FR-4).

After the first exchange of an untitled conversation ends normally, ``TitleWriter``
asks the same model, through the same gateway and relay as any chat, for a short title
(temperature 0, a few tokens), cleans it (``clean_title``) and stores it. The model may be
a weak base model, so anything unusable falls back to the first words of the user's
message. It runs as a background task: it never delays or breaks the chat, and shutdown
cancels it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from contextlib import aclosing
from typing import Any

from chat_api.auth import AuthUser
from chat_api.gateway import Gateway
from chat_api.persistence_client import Persistence
from chat_api.relay import Relay, StreamFailure
from chat_api.settings import ApiSettings
from contracts.conversations import GetConversation, UpdateConversation
from contracts.inference import ChatMessage, ChatRequest, SamplingParams

log = logging.getLogger("chat_api.titles")

MAX_TITLE_CHARS = 80
MAX_TITLE_WORDS = 12
FALLBACK_WORDS = 6
TITLE_MAX_TOKENS = 16
PROMPT_CHARS = 1000
DEFAULT_TITLE = "New conversation"
TITLE_PROMPT = (
    "Write a short title (at most 6 words) for this conversation. "
    "Answer with the title only.\n\nUser: {message}\n\nTitle:"
)

_LABEL = re.compile(r"^\s*(title|subject|topic)\s*[:\-]\s*", re.IGNORECASE)
_DECORATION = "\"'`*#_[]()<>:;-.,!? \t\u201c\u201d\u2018\u2019\u00ab\u00bb\u2013\u2014"
_SPACES = re.compile(r"\s+")


def _cap(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(_DECORATION) or text[:limit]


def fallback_title(user_message: str) -> str:
    """The first words of the user's message (or a fixed name for an empty one)."""
    words = _SPACES.sub(" ", user_message).strip().split(" ")
    text = " ".join(words[:FALLBACK_WORDS]).strip(_DECORATION)
    if not any(ch.isalnum() for ch in text):
        return DEFAULT_TITLE
    return _cap(text)


def clean_title(raw: str, user_message: str) -> str:
    """The model's answer as a one-line title: first non-empty line, no label, quotes or
    markup, at most ``MAX_TITLE_CHARS``; the fallback when nothing usable is left."""
    line = next((part for part in raw.splitlines() if part.strip()), "")
    line = _LABEL.sub("", line)
    line = _SPACES.sub(" ", line).strip(_DECORATION)
    words = line.split(" ")
    if (
        not any(ch.isalnum() for ch in line)
        or len(words) > MAX_TITLE_WORDS
        or line.lower().startswith(("write a short title", "user:"))
    ):
        return fallback_title(user_message)
    return _cap(line)


class TitleWriter:
    def __init__(self, settings: ApiSettings, gateway: Gateway, persistence: Persistence) -> None:
        self.settings = settings
        self.gateway = gateway
        self.persistence = persistence
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def schedule(self, user: AuthUser, conversation_id: str, model: str, user_message: str) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(
            self.write(user, conversation_id, model, user_message),
            name=f"title-{conversation_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def write(
        self, user: AuthUser, conversation_id: str, model: str, user_message: str
    ) -> str | None:
        """Generate, clean and store the title; returns it (None if it was not stored)."""
        try:
            raw = await self.generate(user, model, user_message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("title generation for %s failed", conversation_id, exc_info=True)
            raw = ""
        title = clean_title(raw, user_message)
        try:
            detail = await self.persistence.get_conversation(
                GetConversation(user_id=user.id, conversation_id=conversation_id, limit=0)
            )
            if detail.conversation.title.strip():
                return None  # named meanwhile
            await self.persistence.update_conversation(
                UpdateConversation(user_id=user.id, conversation_id=conversation_id, title=title)
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("storing the title of %s failed", conversation_id, exc_info=True)
            return None
        return title

    async def generate(self, user: AuthUser, model: str, user_message: str) -> str:
        """One non-streamed internal chat; "" when no worker serves the model or it fails."""
        if not self.gateway.workers.serves(model):
            return ""
        now = time.time()
        request = ChatRequest(
            request_id=f"title-{uuid.uuid4().hex}",
            user_id=user.id,
            model=model,
            messages=(
                ChatMessage(
                    role="user", content=TITLE_PROMPT.format(message=user_message[:PROMPT_CHARS])
                ),
            ),
            sampling=SamplingParams(temperature=0.0, max_tokens=TITLE_MAX_TOKENS),
            deadline=now + self.settings.title_timeout_s,
            created_at=now,
        )
        feed = await self.gateway.open(request)
        relay = Relay(self.gateway, request, feed)
        parts: list[str] = []
        async with aclosing(relay.events()) as items:  # closed at once on an early return
            async for item in items:
                if isinstance(item, StreamFailure):
                    return ""
                parts.append(item.text)
        return "".join(parts)

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait_idle(self, timeout_s: float) -> None:
        """Wait for running title tasks (tests)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    async def close(self) -> None:
        """Stop taking work and cancel what runs (shutdown)."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
