"""``/api/chat`` with ``conversation_id`` and user settings: what goes on the bus, and the
automatic title after the first exchange (fake gateway, fake persistence)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar.testing import TestClient

from chat_api.auth import AuthUser
from chat_api.bus.events import accepted_event
from chat_api.chat import ChatService
from chat_api.chat.titles import TitleWriter
from chat_api.settings import ApiSettings
from contracts.accounts import UserSettings
from contracts.inference import ChatMessage, OpenChat
from tests.api.fake_gateway import FakeGateway, answer
from tests.api.fake_persistence import FakePersistence, bearer
from tests.api.test_errors import assert_error_body

ALICE = bearer("alice")


def _chat(client: TestClient[Any], body: dict[str, Any]) -> str:
    response = client.post("/api/chat", json=body, headers=ALICE)
    assert response.status_code == 200, response.text
    assert "event: done" in response.text, response.text
    return response.text


def _conversation(client: TestClient[Any], **body: Any) -> str:
    return str(client.post("/api/conversations", json=body, headers=ALICE).json()["id"])


def _wait_titles(client: TestClient[Any]) -> None:
    service: ChatService = client.app.state["chat_service"]
    assert service.titles is not None
    client.blocking_portal.call(service.titles.wait_idle, 5.0)


def test_history_and_system_prompt_are_put_in_front(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    conversation_id = _conversation(app_client, title="t", system_prompt="Conv prompt.")
    fake_persistence.add_message(conversation_id, "user", "first")
    fake_persistence.add_message(conversation_id, "assistant", "answer one")
    fake_persistence.add_message(conversation_id, "user", "lost", status="failed")
    fake_persistence.add_message(conversation_id, "assistant", "part", status="cancelled")
    fake_persistence.add_message(conversation_id, "assistant", "", status="cancelled")
    _chat(
        app_client,
        {"conversation_id": conversation_id, "messages": [{"role": "user", "content": "next"}]},
    )
    request = app_gateway.requests[-1]
    assert request.conversation_id == conversation_id
    assert [(m.role, m.content) for m in request.messages] == [
        ("system", "Conv prompt."),
        ("user", "first"),
        ("assistant", "answer one"),
        ("assistant", "part"),
        ("user", "next"),
    ]
    event = accepted_event(request, 0.0)
    assert event.conversation_id == conversation_id
    assert event.user_message == "next"


def test_request_system_prompt_beats_conversation_and_settings(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    fake_persistence.settings["alice"] = UserSettings(system_prompt="Settings prompt.")
    conversation_id = _conversation(app_client, title="t", system_prompt="Conv prompt.")
    _chat(
        app_client,
        {
            "conversation_id": conversation_id,
            "system_prompt": "Request prompt.",
            "messages": [{"role": "user", "content": "q"}],
        },
    )
    assert app_gateway.requests[-1].messages[0] == ChatMessage(
        role="system", content="Request prompt."
    )
    # without a request prompt: the conversation's; without that: the settings'
    _chat(
        app_client,
        {"conversation_id": conversation_id, "messages": [{"role": "user", "content": "q"}]},
    )
    assert app_gateway.requests[-1].messages[0].content == "Conv prompt."
    other = _conversation(app_client, title="t2")
    _chat(app_client, {"conversation_id": other, "messages": [{"role": "user", "content": "q"}]})
    assert app_gateway.requests[-1].messages[0].content == "Settings prompt."


def test_settings_apply_to_plain_chats_and_v1(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    fake_persistence.settings["alice"] = UserSettings(
        system_prompt="Be terse.", model="other-model", temperature=0.3, top_p=0.5, max_tokens=40
    )
    _chat(app_client, {"messages": [{"role": "user", "content": "hi"}], "temperature": 1.0})
    request = app_gateway.requests[-1]
    assert request.model == "other-model"
    assert request.messages[0] == ChatMessage(role="system", content="Be terse.")
    assert request.sampling.temperature == 1.0  # the request wins
    assert (request.sampling.top_p, request.sampling.max_tokens) == (0.5, 40)
    assert request.conversation_id is None

    response = app_client.post(
        "/v1/chat/completions",
        json={
            "model": "gemma3-270m",
            "messages": [{"role": "system", "content": "Own."}, {"role": "user", "content": "hi"}],
        },
        headers=ALICE,
    )
    assert response.status_code == 200, response.text
    request = app_gateway.requests[-1]
    assert request.model == "gemma3-270m"
    assert [m.content for m in request.messages] == ["Own.", "hi"]
    assert request.sampling.temperature == 0.3


def test_settings_are_cached_per_user(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    for _ in range(3):
        _chat(app_client, {"messages": [{"role": "user", "content": "hi"}]})
    assert fake_persistence.count("get_settings") == 1
    assert fake_persistence.count("get_user") == 1


def test_conversation_chat_must_end_with_a_user_message(app_client: TestClient[Any]) -> None:
    conversation_id = _conversation(app_client)
    response = app_client.post(
        "/api/chat",
        json={
            "conversation_id": conversation_id,
            "messages": [{"role": "assistant", "content": "x"}],
        },
        headers=ALICE,
    )
    assert_error_body(response, 400, "invalid_request")


def test_long_history_drops_the_oldest_turns(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    conversation_id = _conversation(app_client, title="t")
    for i in range(10):  # max_messages is 8 in these settings
        fake_persistence.add_message(conversation_id, "user", f"q{i}")
        fake_persistence.add_message(conversation_id, "assistant", f"a{i}")
    _chat(
        app_client,
        {"conversation_id": conversation_id, "messages": [{"role": "user", "content": "now"}]},
    )
    messages = app_gateway.requests[-1].messages
    assert len(messages) <= 8
    assert messages[0] == ChatMessage(role="user", content="q7")
    assert messages[-1].content == "now"


def test_only_the_usable_history_is_asked_for(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    """Persistence is asked for what fit_history can keep (max_messages 8, 1,000 chars),
    never the whole conversation: a long one would not fit in one reply."""
    conversation_id = _conversation(app_client, title="t")
    fake_persistence.add_message(conversation_id, "user", "old " + "x" * 600)
    fake_persistence.add_message(conversation_id, "assistant", "y" * 300)
    fake_persistence.add_message(conversation_id, "user", "lost", status="failed")
    fake_persistence.add_message(conversation_id, "assistant", "", status="cancelled")
    fake_persistence.add_message(conversation_id, "user", "recent")
    _chat(
        app_client,
        {
            "conversation_id": conversation_id,
            "system_prompt": "Sys.",
            "messages": [{"role": "user", "content": "now" * 100}],
        },
    )
    asked = fake_persistence.page_requests[-1]
    assert (asked.limit, asked.max_chars) == (6, 1000 - 300 - len("Sys."))
    assert (asked.statuses, asked.skip_empty) == (("complete", "cancelled"), True)
    # The page: the 300-character answer and "recent" (the 604-character question is
    # over the budget); the answer, cut from its question, is dropped as before.
    sent = app_gateway.requests[-1].messages
    assert [m.content[:3] for m in sent] == ["Sys", "rec", "now"]


def test_a_conversation_with_only_failed_messages_is_not_renamed(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    """The history page leaves failed messages out; the title needs the conversation to
    have no message at all (message_count), as before."""
    conversation_id = _conversation(app_client)
    fake_persistence.add_message(conversation_id, "assistant", "", status="failed")
    _chat(
        app_client,
        {"conversation_id": conversation_id, "messages": [{"role": "user", "content": "q"}]},
    )
    _wait_titles(app_client)
    assert not any(r.request_id.startswith("title-") for r in app_gateway.requests)


def test_first_exchange_names_the_conversation(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    app_gateway.script = answer("Hel", "lo")
    conversation_id = _conversation(app_client)

    def script(request: Any) -> Any:
        if request.request_id.startswith("title-"):
            return answer('"Paris trip ', 'planning."\nmore')(request)
        return answer("Hel", "lo")(request)

    app_gateway.script = script
    _chat(
        app_client,
        {
            "conversation_id": conversation_id,
            "messages": [{"role": "user", "content": "Plan my trip to Paris please"}],
        },
    )
    _wait_titles(app_client)
    title_request = app_gateway.requests[-1]
    assert title_request.request_id.startswith("title-")
    assert title_request.conversation_id is None  # not stored as a conversation message
    assert title_request.sampling.temperature == 0.0
    assert title_request.sampling.max_tokens == 16
    assert "Plan my trip to Paris please" in title_request.messages[0].content
    assert fake_persistence.conversations[conversation_id].title == "Paris trip planning"


def test_title_falls_back_to_the_user_message(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    conversation_id = _conversation(app_client)

    def script(request: Any) -> Any:
        if request.request_id.startswith("title-"):
            return answer("\n", "  ...  ")(request)
        return answer("ok")(request)

    app_gateway.script = script
    _chat(
        app_client,
        {
            "conversation_id": conversation_id,
            "messages": [{"role": "user", "content": "How do magnets work, in simple words?"}],
        },
    )
    _wait_titles(app_client)
    assert fake_persistence.conversations[conversation_id].title == "How do magnets work, in simple"


def test_no_title_for_titled_or_continued_conversations(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    titled = _conversation(app_client, title="Mine")
    continued = _conversation(app_client)
    fake_persistence.add_message(continued, "user", "earlier")
    for conversation_id in (titled, continued):
        _chat(
            app_client,
            {"conversation_id": conversation_id, "messages": [{"role": "user", "content": "q"}]},
        )
    _wait_titles(app_client)
    assert not any(r.request_id.startswith("title-") for r in app_gateway.requests)
    assert fake_persistence.conversations[continued].title == ""


def test_title_task_failure_never_breaks_the_chat(
    app_client: TestClient[Any], app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> None:
    conversation_id = _conversation(app_client)

    def script(request: Any) -> Any:
        if request.request_id.startswith("title-"):
            raise RuntimeError("boom")
        return answer("ok")(request)

    app_gateway.script = script
    _chat(
        app_client,
        {
            "conversation_id": conversation_id,
            "messages": [{"role": "user", "content": "Hello world"}],
        },
    )
    _wait_titles(app_client)
    assert fake_persistence.conversations[conversation_id].title == "Hello world"


async def test_title_tasks_are_cancelled_on_close() -> None:
    gateway = FakeGateway(script=lambda request: [])  # never answers
    writer = TitleWriter(ApiSettings(jwt_secret="s"), gateway, FakePersistence())
    writer.schedule(AuthUser(id="u", role="user"), "c1", "gemma3-270m", "hello")
    await asyncio.sleep(0.05)
    assert len(writer) == 1
    await writer.close()
    assert len(writer) == 0
    assert [reason for _, reason in gateway.cancels] == ["client_disconnected"]


def test_the_running_chat_is_named_until_its_deadline(
    app_client: TestClient[Any], app_gateway: FakeGateway
) -> None:
    """A conversation key left behind (its api instance died mid-answer) is not named once
    the chat's deadline has passed, nor when its ``OpenChat`` is gone."""
    conversation_id = _conversation(app_client, title="t")
    now = time.time()
    app_gateway.conversation_chats[conversation_id] = "r-live"
    app_gateway.open_chats["r-live"] = OpenChat(
        request_id="r-live", user_id="alice", model="m", deadline=now + 60, created_at=now
    )

    def active() -> Any:
        read = app_client.get(f"/api/conversations/{conversation_id}", headers=ALICE)
        assert read.status_code == 200
        return read.json()["active_request_id"]

    assert active() == "r-live"
    app_gateway.open_chats["r-live"] = OpenChat(
        request_id="r-live", user_id="alice", model="m", deadline=now - 1, created_at=now - 300
    )
    assert active() is None
    del app_gateway.open_chats["r-live"]
    assert active() is None
