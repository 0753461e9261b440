"""``OpenChatRecords.record``: the request's record and its conversation's running chat are
written together, and a failed write is logged, never raised (the chat goes on)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from chat_api.bus.open_chats import OpenChatRecords
from contracts import subjects
from contracts.inference import ChatMessage, ChatRequest


class Bucket:
    """Puts that take a while; ``failing`` keys raise."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.written: dict[str, bytes] = {}
        self.in_flight = 0
        self.most_in_flight = 0

    async def put(self, key: str, value: bytes) -> int:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        if key in self.failing:
            raise ConnectionError("kv down")
        self.written[key] = value
        return 1


def _records(bucket: Bucket) -> OpenChatRecords:
    records = OpenChatRecords()
    records._bucket = bucket  # type: ignore[assignment]
    return records


def _request(conversation_id: str | None = "c1") -> ChatRequest:
    return ChatRequest(
        request_id="r1",
        user_id="u1",
        model="m",
        messages=(ChatMessage(role="user", content="hi"),),
        deadline=2e9,
        created_at=1e9,
        conversation_id=conversation_id,
    )


async def test_both_keys_are_written_at_once() -> None:
    bucket = Bucket()
    await _records(bucket).record(_request())
    assert set(bucket.written) == {
        subjects.open_chat_key("r1"),
        subjects.conversation_chat_key("c1"),
    }
    assert bucket.written[subjects.conversation_chat_key("c1")] == b"r1"
    assert bucket.most_in_flight == 2


async def test_a_failed_write_is_logged_and_the_other_still_made(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bucket = Bucket(failing={subjects.conversation_chat_key("c1")})
    with caplog.at_level(logging.WARNING, logger="chat_api.bus.open_chats"):
        await _records(bucket).record(_request())
    assert set(bucket.written) == {subjects.open_chat_key("r1")}
    messages: list[Any] = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "r1: open chat not recorded" in messages[0]


async def test_a_queued_rewrite_leaves_the_conversation_key_alone() -> None:
    bucket = Bucket()
    await _records(bucket).record(_request(), queue_seq=7)
    assert set(bucket.written) == {subjects.open_chat_key("r1")}
