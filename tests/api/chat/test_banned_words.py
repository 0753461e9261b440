"""``BANNED_WORDS``: case-insensitive whole words (and phrases) in what the caller sends
-> 400 ``content_blocked``, on /api/chat and /v1 alike, without echoing the list."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.chat.banned_words import BannedWords
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from tests.api.fake_gateway import FakeGateway

WORDS = ("darn", "Heck", "rot13 tool", "c++", "욕설")


@pytest.mark.parametrize(
    ("text", "blocked"),
    [
        ("well darn it", True),
        ("DARN!", True),
        ("(heck)", True),
        ("use the ROT13   tool now", True),
        ("I like c++ a lot", True),
        ("이건 욕설 입니다", True),
        ("darning socks", False),  # not a whole word
        ("undarn", False),
        ("heckle", False),
        ("rot13 is a cipher", False),  # only the whole phrase
        ("c+ is not c++x", False),
        ("욕설을", False),  # an inflected form must be listed itself
        ("", False),
    ],
)
def test_whole_words_case_insensitive(text: str, blocked: bool) -> None:
    assert BannedWords(WORDS).matches(text) is blocked


def test_an_empty_list_blocks_nothing() -> None:
    words = BannedWords(["", "  "])
    assert not words
    assert not words.matches("anything at all")


@pytest.fixture
def blocking_client(settings: ApiSettings, fake_gateway: FakeGateway) -> Iterator[TestClient[Any]]:
    settings = replace(settings, banned_words=WORDS)
    service = ChatService(settings, fake_gateway, StreamTable())
    with TestClient(
        app=create_app(settings, chat_service=service), raise_server_exceptions=False
    ) as client:
        yield client


def _assert_blocked(response: Any) -> None:
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "content_blocked"
    assert error["param"] == "messages"
    assert error["request_id"] == response.headers["x-request-id"]
    message = error["message"].lower()
    assert "not allowed" in message
    assert not any(word.lower() in message for word in WORDS)


def test_chat_routes_refuse_banned_words(
    blocking_client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    body = {"messages": [{"role": "user", "content": "Oh DARN, what now?"}]}
    _assert_blocked(blocking_client.post("/api/chat", json=body, headers=auth_headers))
    system = {"messages": [{"role": "user", "content": "hi"}], "system_prompt": "say heck"}
    _assert_blocked(blocking_client.post("/api/chat", json=system, headers=auth_headers))
    openai_body = {"model": "gemma3-270m", **body}
    _assert_blocked(
        blocking_client.post("/v1/chat/completions", json=openai_body, headers=auth_headers)
    )
    assert fake_gateway.requests == []  # nothing reached the bus

    clean = {"messages": [{"role": "user", "content": "darning socks, heckle"}]}
    assert blocking_client.post("/api/chat", json=clean, headers=auth_headers).status_code == 200


def test_a_banned_word_in_a_stop_string_is_refused_too(
    blocking_client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "stop": ["fine", "oh heck"]}
    for path, extra in (("/api/chat", {}), ("/v1/chat/completions", {"model": "gemma3-270m"})):
        response = blocking_client.post(path, json={**body, **extra}, headers=auth_headers)
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("content_blocked", "stop")
    assert fake_gateway.requests == []
