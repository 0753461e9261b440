"""A conversation as a download: JSON (the detail as the api returns it) or Markdown."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from contracts.conversations import ConversationDetail

ExportFormat = Literal["json", "markdown"]
UNTITLED = "Untitled conversation"
_HEADINGS = {"system": "System", "user": "User", "assistant": "Assistant"}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")


def to_markdown(detail: ConversationDetail) -> str:
    """``# title``, then the system prompt and every message under its role as a heading."""
    conversation = detail.conversation
    parts = [f"# {conversation.title.strip() or UNTITLED}"]
    if conversation.system_prompt:
        parts.append(f"## System\n\n{conversation.system_prompt.strip()}")
    for message in detail.messages:
        heading = _HEADINGS.get(message.role, message.role.title())
        if message.status != "complete":
            heading += f" ({message.status})"
        parts.append(f"## {heading}\n\n{message.content.strip()}")
    return "\n\n".join(parts) + "\n"


def to_json(detail: ConversationDetail) -> bytes:
    return msgspec.json.format(msgspec.json.encode(detail), indent=2)


def export_filename(conversation_id: str, fmt: ExportFormat) -> str:
    stem = _UNSAFE_FILENAME.sub("_", conversation_id)[:64] or "conversation"
    return f"conversation-{stem}.{'md' if fmt == 'markdown' else 'json'}"


def render(detail: ConversationDetail, fmt: ExportFormat) -> tuple[bytes, str]:
    """The file body and its media type."""
    if fmt == "markdown":
        # no charset here: Litestar appends "; charset=utf-8" to every text/* type
        return to_markdown(detail).encode(), "text/markdown"
    return to_json(detail), "application/json"
