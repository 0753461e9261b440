"""``BannedWords``: the configurable input filter (``BANNED_WORDS``) of every chat.

Case-insensitive, whole words: an entry matches where it is not part of a longer word
(``ass`` does not match ``class``); an entry of several words matches with any
whitespace between them. Only what the caller sends is checked (their messages and
system prompt), not stored history or configured defaults. A match is 400
``content_blocked`` whose message never repeats the list or the matched word, so the
error cannot be used to read the list out. Languages that glue particles to words
(Korean ``욕설을``) need each inflected form listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from chat_api.errors import ApiError
from contracts.errors import ErrorCode
from contracts.inference import ChatMessage

BLOCKED_MESSAGE = "the input contains words that are not allowed here; rephrase and retry"


class BannedWords:
    def __init__(self, words: Iterable[str]) -> None:
        entries = sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True)
        self._pattern: re.Pattern[str] | None = None
        if entries:
            alternatives = "|".join(r"\s+".join(map(re.escape, e.split())) for e in entries)
            self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def matches(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def check(self, messages: Sequence[ChatMessage], stop: Sequence[str] = ()) -> None:
        """Raise 400 ``content_blocked`` when any message or stop string contains a banned
        word."""
        if self._pattern is None:
            return
        for message in messages:
            if self.matches(message.content):
                raise ApiError(400, ErrorCode.CONTENT_BLOCKED, BLOCKED_MESSAGE, param="messages")
        if any(self.matches(text) for text in stop):
            raise ApiError(400, ErrorCode.CONTENT_BLOCKED, BLOCKED_MESSAGE, param="stop")
