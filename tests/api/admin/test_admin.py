"""Admin routes and user settings routes: who may call them, and what they validate."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from tests.api.fake_gateway import FakeGateway
from tests.api.fake_persistence import FakePersistence, bearer
from tests.api.test_errors import assert_error_body

ROOT = bearer("root")
ALICE = bearer("alice")


def test_users_route_is_admin_only(app_client: TestClient[Any]) -> None:
    assert_error_body(app_client.get("/api/admin/users", headers=ALICE), 403, "forbidden")
    assert_error_body(app_client.get("/api/admin/users"), 401, "unauthorized")
    page = app_client.get("/api/admin/users?limit=2&offset=1", headers=ROOT)
    assert page.status_code == 200, page.text
    assert page.json()["total"] == 3
    assert [u["id"] for u in page.json()["items"]] == ["bob", "root"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/admin/users",
        "/api/admin/users/alice",
        "/api/admin/conversations/c1",
        "/api/admin/usage/records.csv",
        "/api/admin/models",
        "/api/admin/aliases/fast",
    ],
)
@pytest.mark.parametrize("headers", [{}, ALICE, ROOT], ids=["anonymous", "user", "admin"])
def test_options_on_admin_routes_is_204_not_500(
    app_client: TestClient[Any], path: str, headers: dict[str, str]
) -> None:
    # OPTIONS skips authentication, and the automatic OPTIONS handler inherits the admin
    # guard, which read the absent user: a 500. It lists methods, as on any other route.
    response = app_client.options(path, headers=headers)
    assert response.status_code == 204, response.text
    assert "OPTIONS" in response.headers["allow"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=abc"])
def test_users_bad_paging_is_400(app_client: TestClient[Any], query: str) -> None:
    response = app_client.get(f"/api/admin/users?{query}", headers=ROOT)
    assert_error_body(response, 400, "invalid_request")


def test_disable_user_stops_their_token_at_once(app_client: TestClient[Any]) -> None:
    assert app_client.get("/api/me", headers=ALICE).status_code == 200  # cached now
    response = app_client.patch("/api/admin/users/alice", json={"disabled": True}, headers=ROOT)
    assert response.status_code == 200, response.text
    assert response.json()["disabled"] is True
    assert_error_body(app_client.get("/api/me", headers=ALICE), 401, "unauthorized")
    app_client.patch("/api/admin/users/alice", json={"disabled": False}, headers=ROOT)
    assert app_client.get("/api/me", headers=ALICE).status_code == 200


def test_promote_user(app_client: TestClient[Any]) -> None:
    response = app_client.patch("/api/admin/users/alice", json={"role": "admin"}, headers=ROOT)
    assert response.json()["role"] == "admin"
    assert app_client.get("/api/admin/users", headers=ALICE).status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"role": "root"}, {"disabled": "yes"}, {"email": "x@y.z"}, [True]]
)
def test_patch_user_bad_body_is_400(app_client: TestClient[Any], body: Any) -> None:
    response = app_client.patch("/api/admin/users/alice", json=body, headers=ROOT)
    assert_error_body(response, 400, "invalid_request")


def test_patch_user_forbidden_and_unknown(app_client: TestClient[Any]) -> None:
    response = app_client.patch("/api/admin/users/bob", json={"disabled": True}, headers=ALICE)
    assert_error_body(response, 403, "forbidden")
    response = app_client.patch("/api/admin/users/ghost", json={"disabled": True}, headers=ROOT)
    assert_error_body(response, 404, "not_found")


def _alice_conversation(client: TestClient[Any]) -> str:
    response = client.post("/api/conversations", json={"title": "private"}, headers=ALICE)
    return str(response.json()["id"])


def test_admin_cannot_read_conversations_by_default(app_client: TestClient[Any]) -> None:
    conversation_id = _alice_conversation(app_client)
    response = app_client.get(f"/api/admin/conversations/{conversation_id}", headers=ROOT)
    assert_error_body(response, 403, "forbidden")
    assert "private" not in response.text
    # nor through the owner route
    response = app_client.get(f"/api/conversations/{conversation_id}", headers=ROOT)
    assert_error_body(response, 404, "not_found")


def test_admin_reads_conversations_when_allowed(
    app_settings: ApiSettings, fake_persistence: FakePersistence
) -> None:
    settings = replace(app_settings, admin_can_read_conversations=True)
    app = create_app(
        settings,
        chat_service=ChatService(settings, FakeGateway(), StreamTable()),
        persistence=fake_persistence,
    )
    with TestClient(app=app, raise_server_exceptions=False) as client:
        conversation_id = _alice_conversation(client)
        response = client.get(f"/api/admin/conversations/{conversation_id}", headers=ROOT)
        assert response.status_code == 200, response.text
        assert response.json()["conversation"]["title"] == "private"
        for i in range(3):
            fake_persistence.add_message(conversation_id, "user", f"m{i}")
        page = client.get(
            f"/api/admin/conversations/{conversation_id}?limit=2", headers=ROOT
        ).json()
        assert ([m["content"] for m in page["messages"]], page["has_more"]) == (["m1", "m2"], True)
        older = client.get(
            f"/api/admin/conversations/{conversation_id}",
            params={"before": page["next_before"]},
            headers=ROOT,
        ).json()
        assert [m["content"] for m in older["messages"]] == ["m0"]
        response = client.get(f"/api/admin/conversations/{conversation_id}?limit=0", headers=ROOT)
        assert_error_body(response, 400, "invalid_request")
        response = client.get(f"/api/admin/conversations/{conversation_id}", headers=ALICE)
        assert_error_body(response, 403, "forbidden")


# --- user settings ---------------------------------------------------------------------
def test_settings_round_trip_and_are_per_user(app_client: TestClient[Any]) -> None:
    assert app_client.get("/api/settings", headers=ALICE).json() == {
        "system_prompt": None,
        "model": None,
        "temperature": None,
        "top_p": None,
        "max_tokens": None,
    }
    body = {"system_prompt": "Be brief.", "model": "other-model", "temperature": 0.5}
    response = app_client.put("/api/settings", json=body, headers=ALICE)
    assert response.status_code == 200, response.text
    assert app_client.get("/api/settings", headers=ALICE).json()["system_prompt"] == "Be brief."
    assert app_client.get("/api/settings", headers=bearer("bob")).json()["system_prompt"] is None
    assert_error_body(app_client.get("/api/settings"), 401, "unauthorized")


@pytest.mark.parametrize(
    "body",
    [
        {"model": "nope"},
        {"temperature": 2.5},
        {"temperature": "hot"},
        {"top_p": 0},
        {"max_tokens": 0},
        {"max_tokens": 513},
        {"system_prompt": "x" * 1001},
        {"colour": "blue"},
        [],
    ],
)
def test_bad_settings_are_400(app_client: TestClient[Any], body: Any) -> None:
    response = app_client.put("/api/settings", json=body, headers=ALICE)
    assert_error_body(response, 400, "invalid_request")
