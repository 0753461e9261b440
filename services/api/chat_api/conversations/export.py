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


_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_BACKTICK_RUNS = re.compile(r"`+")


def _escaped_line(text: str) -> str:
    """``text`` as plain text on one line: every ASCII punctuation mark backslash-escaped
    (CommonMark), so a title cannot make a link, an image or a heading."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(text.split()))


def _fenced(text: str) -> str:
    """``text`` verbatim in a fenced block longer than any run of backticks inside it:
    whatever a message says (``## Assistant``, a link, an image, HTML), it stays text
    and cannot forge the export's structure."""
    longest = max((len(run) for run in _BACKTICK_RUNS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def to_markdown(detail: ConversationDetail) -> str:
    """``# title``, then the system prompt and every message under its role as a heading,
    each text in a fenced block (the roles' headings are the only structure)."""
    conversation = detail.conversation
    parts = [f"# {_escaped_line(conversation.title) or UNTITLED}"]
    if conversation.system_prompt:
        parts.append(f"## System\n\n{_fenced(conversation.system_prompt.strip())}")
    for message in detail.messages:
        heading = _HEADINGS.get(message.role, message.role.title())
        if message.status != "complete":
            heading += f" ({message.status})"
        parts.append(f"## {heading}\n\n{_fenced(message.content.strip())}")
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
