"""Conversation routes over a fake persistence: CRUD, paging, export, ownership."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from chat_api.conversations.export import to_markdown
from contracts.conversations import ConversationDetail, ConversationView, MessageView
from tests.api.fake_persistence import FakePersistence, bearer
from tests.api.test_errors import assert_error_body

ALICE = bearer("alice")
BOB = bearer("bob")


def _create(client: TestClient[Any], headers: dict[str, str] = ALICE, **body: Any) -> str:
    response = client.post("/api/conversations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_create_read_update_delete(app_client: TestClient[Any]) -> None:
    conversation_id = _create(app_client, title="  Trip  ", system_prompt="Be brief.")
    detail = app_client.get(f"/api/conversations/{conversation_id}", headers=ALICE).json()
    assert detail["conversation"]["title"] == "Trip"
    assert detail["conversation"]["system_prompt"] == "Be brief."
    assert detail["messages"] == []

    patched = app_client.patch(
        f"/api/conversations/{conversation_id}", json={"title": "Paris"}, headers=ALICE
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "Paris"
    assert patched.json()["system_prompt"] == "Be brief."  # untouched

    cleared = app_client.patch(
        f"/api/conversations/{conversation_id}", json={"system_prompt": None}, headers=ALICE
    )
    assert cleared.json()["system_prompt"] is None
    assert cleared.json()["title"] == "Paris"

    assert (
        app_client.delete(f"/api/conversations/{conversation_id}", headers=ALICE).status_code == 204
    )
    assert_error_body(
        app_client.get(f"/api/conversations/{conversation_id}", headers=ALICE), 404, "not_found"
    )


def test_empty_patch_changes_nothing(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    conversation_id = _create(app_client, title="Keep")
    response = app_client.patch(f"/api/conversations/{conversation_id}", json={}, headers=ALICE)
    assert response.status_code == 200
    assert response.json()["title"] == "Keep"
    assert fake_persistence.count("update_conversation") == 0


def test_list_most_recent_first_with_paging_and_query(app_client: TestClient[Any]) -> None:
    ids = [_create(app_client, title=f"chat {i}") for i in range(5)]
    _create(app_client, BOB, title="bob's")
    page = app_client.get("/api/conversations?limit=2&offset=1", headers=ALICE).json()
    assert page["total"] == 5
    assert [c["id"] for c in page["items"]] == [ids[3], ids[2]]
    found = app_client.get("/api/conversations?q=chat%203", headers=ALICE).json()
    assert [c["id"] for c in found["items"]] == [ids[3]]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "offset=-1", "offset=1.5", "q=" + "x" * 201]
)
def test_bad_paging_is_400(app_client: TestClient[Any], query: str) -> None:
    response = app_client.get(f"/api/conversations?{query}", headers=ALICE)
    assert_error_body(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        {"title": 5},
        {"title": "x" * 201},
        {"system_prompt": 3},
        {"unknown": 1},
        [],
        "text",
    ],
)
def test_bad_create_body_is_400(app_client: TestClient[Any], body: Any) -> None:
    response = app_client.post("/api/conversations", json=body, headers=ALICE)
    assert_error_body(response, 400, "invalid_request")


def test_too_long_system_prompt_is_400(app_client: TestClient[Any]) -> None:
    response = app_client.post(
        "/api/conversations", json={"system_prompt": "x" * 1001}, headers=ALICE
    )
    assert_error_body(response, 400, "invalid_request")


@pytest.mark.parametrize("body", [{"title": None}, {"title": 3}, {"extra": True}, [1]])
def test_bad_patch_body_is_400(app_client: TestClient[Any], body: Any) -> None:
    conversation_id = _create(app_client)
    response = app_client.patch(f"/api/conversations/{conversation_id}", json=body, headers=ALICE)
    assert_error_body(response, 400, "invalid_request")


def test_bad_json_is_400(app_client: TestClient[Any]) -> None:
    response = app_client.post(
        "/api/conversations",
        content=b"{",
        headers={**ALICE, "Content-Type": "application/json"},
    )
    assert_error_body(response, 400, "invalid_request")


def test_other_users_conversation_is_404_everywhere(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    conversation_id = _create(app_client, title="secret plans", system_prompt="hidden")
    fake_persistence.add_message(conversation_id, "user", "the secret")
    path = f"/api/conversations/{conversation_id}"
    for response in (
        app_client.get(path, headers=BOB),
        app_client.patch(path, json={"title": "mine"}, headers=BOB),
        app_client.delete(path, headers=BOB),
        app_client.get(f"{path}/export?format=markdown", headers=BOB),
        app_client.post(
            "/api/chat",
            json={
                "conversation_id": conversation_id,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers=BOB,
        ),
    ):
        assert_error_body(response, 404, "not_found")
        assert "secret" not in response.text
        assert "hidden" not in response.text
    # still there for alice, unchanged
    detail = app_client.get(path, headers=ALICE).json()
    assert detail["conversation"]["title"] == "secret plans"
    listed = app_client.get("/api/conversations", headers=BOB).json()
    assert listed == {"items": [], "total": 0}


def test_unknown_id_is_404(app_client: TestClient[Any]) -> None:
    assert_error_body(app_client.get("/api/conversations/nope", headers=ALICE), 404, "not_found")


def test_no_token_is_401(app_client: TestClient[Any]) -> None:
    assert_error_body(app_client.get("/api/conversations"), 401, "unauthorized")


def test_export_markdown_and_json(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    conversation_id = _create(app_client, title="Greetings")
    fake_persistence.add_message(conversation_id, "user", "Hello?")
    fake_persistence.add_message(conversation_id, "assistant", "Hi there.")
    path = f"/api/conversations/{conversation_id}/export"
    md = app_client.get(f"{path}?format=markdown", headers=ALICE)
    assert md.status_code == 200, md.text
    # one charset parameter (it was given twice: ours and the one Litestar appends)
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert md.headers["content-disposition"] == (
        f'attachment; filename="conversation-{conversation_id}.md"'
    )
    assert md.text == (
        "# Greetings\n\n## User\n\n```text\nHello?\n```\n\n"
        "## Assistant\n\n```text\nHi there.\n```\n"
    )

    js = app_client.get(path, headers=ALICE)
    assert js.status_code == 200
    assert js.headers["content-disposition"].endswith('.json"')
    body = js.json()
    assert body["conversation"]["id"] == conversation_id
    assert [m["content"] for m in body["messages"]] == ["Hello?", "Hi there."]


@pytest.mark.parametrize("fmt", ["pdf", "", "MARKDOWN"])
def test_export_bad_format_is_400(app_client: TestClient[Any], fmt: str) -> None:
    conversation_id = _create(app_client)
    response = app_client.get(
        f"/api/conversations/{conversation_id}/export?format={fmt}", headers=ALICE
    )
    assert_error_body(response, 400, "invalid_request")


def test_read_is_a_page_of_the_newest_with_a_cursor(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    conversation_id = _create(app_client)
    for i in range(130):
        fake_persistence.add_message(conversation_id, "user", f"m{i}")
    path = f"/api/conversations/{conversation_id}"
    first = app_client.get(path, headers=ALICE).json()  # default limit: 100
    assert [m["content"] for m in first["messages"]] == [f"m{i}" for i in range(30, 130)]
    assert first["has_more"] is True
    assert first["next_before"] == first["messages"][0]["id"]
    assert first["conversation"]["message_count"] == 130
    page = app_client.get(
        path, params={"limit": 20, "before": first["next_before"]}, headers=ALICE
    ).json()
    assert [m["content"] for m in page["messages"]] == [f"m{i}" for i in range(10, 30)]
    last = app_client.get(
        path, params={"limit": 20, "before": page["next_before"]}, headers=ALICE
    ).json()
    assert [m["content"] for m in last["messages"]] == [f"m{i}" for i in range(10)]
    assert (last["has_more"], last["next_before"]) == (False, None)
    asked = fake_persistence.page_requests[-1]
    assert (asked.limit, asked.before) == (20, page["next_before"])


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=x", "limit=-1", "before=", f"before={'a' * 65}"],
)
def test_bad_message_paging_is_400(app_client: TestClient[Any], query: str) -> None:
    conversation_id = _create(app_client)
    response = app_client.get(f"/api/conversations/{conversation_id}?{query}", headers=ALICE)
    assert_error_body(response, 400, "invalid_request")


def test_unknown_cursor_is_400(app_client: TestClient[Any]) -> None:
    conversation_id = _create(app_client)
    response = app_client.get(f"/api/conversations/{conversation_id}?before=nope", headers=ALICE)
    assert_error_body(response, 400, "invalid_request")


def test_export_pages_through_the_whole_conversation(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    conversation_id = _create(app_client, title="Long")
    for i in range(30):
        fake_persistence.add_message(
            conversation_id, "user" if i % 2 == 0 else "assistant", f"m{i}"
        )
    fake_persistence.page_cap = 7  # as if each reply's budget held 7 messages
    body = app_client.get(f"/api/conversations/{conversation_id}/export", headers=ALICE).json()
    assert [m["content"] for m in body["messages"]] == [f"m{i}" for i in range(30)]
    assert fake_persistence.count("get_conversation") == 5
    md = app_client.get(
        f"/api/conversations/{conversation_id}/export?format=markdown", headers=ALICE
    ).text
    assert md.index("m0") < md.index("m7") < md.index("m29")


def test_markdown_untitled_with_prompt_and_cancelled_answer() -> None:
    detail = ConversationDetail(
        conversation=ConversationView(
            id="c1", user_id="u", title="", system_prompt="Be kind.", created_at=0, updated_at=0
        ),
        messages=[
            MessageView(id="1", role="user", content=" Hi ", created_at=0),
            MessageView(id="2", role="assistant", content="Hel", status="cancelled", created_at=0),
        ],
    )
    assert to_markdown(detail) == (
        "# Untitled conversation\n\n## System\n\n```text\nBe kind.\n```\n\n"
        "## User\n\n```text\nHi\n```\n\n## Assistant (cancelled)\n\n```text\nHel\n```\n"
    )


def test_markdown_text_cannot_forge_sections_links_or_images() -> None:
    forged = "Sure.\n\n## Assistant\n\n[click](https://evil.example) ![x](https://e/x.png)"
    fence_breaker = "````\n## User\nsay yes\n````"
    detail = ConversationDetail(
        conversation=ConversationView(
            id="c1",
            user_id="u",
            title="Plan\n## Assistant [a](https://e) ![i](https://e/i)",
            created_at=0,
            updated_at=0,
        ),
        messages=[
            MessageView(id="1", role="user", content=forged, created_at=0),
            MessageView(id="2", role="assistant", content=fence_breaker, created_at=0),
        ],
    )
    md = to_markdown(detail)
    title, *_ = md.split("\n")
    assert title == r"# Plan \#\# Assistant \[a\]\(https\:\/\/e\) \!\[i\]\(https\:\/\/e\/i\)"
    assert f"```text\n{forged}\n```" in md  # verbatim, inside its fence
    assert f"`````text\n{fence_breaker}\n`````" in md  # a longer fence than it holds
    outside_fences = [
        line for i, line in enumerate(md.split("\n")) if _outside_fences(md.split("\n"), i)
    ]
    assert [line for line in outside_fences if line.startswith("#")] == [
        title,
        "## User",
        "## Assistant",
    ]


def _outside_fences(lines: list[str], index: int) -> bool:
    """CommonMark fences: a block opened by N backticks ends at a line of N or more."""
    opened = 0
    for line in lines[:index]:
        run = len(line) - len(line.lstrip("`"))
        if not opened and run >= 3:
            opened = run
        elif opened and run >= opened and not line.strip("`"):
            opened = 0
    return not opened
