"""Register / login / refresh / logout / me / API keys over a fake persistence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.auth import verify_token
from chat_api.auth.dev_token import DEV_USER_ID, dev_token
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from tests.api.fake_gateway import FakeGateway
from tests.api.fake_persistence import PASSWORD, SECRET, FakePersistence, bearer
from tests.api.test_errors import assert_error_body

CREDS = {"email": "New.User@Example.com", "password": "long enough password"}


def test_register_returns_201_user(app_client: TestClient[Any]) -> None:
    response = app_client.post("/api/auth/register", json=CREDS)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "new.user@example.com"
    assert body["role"] == "user"
    assert "password" not in body


def test_register_twice_is_409(app_client: TestClient[Any]) -> None:
    assert app_client.post("/api/auth/register", json=CREDS).status_code == 201
    assert_error_body(app_client.post("/api/auth/register", json=CREDS), 409, "conflict")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"email": "not-an-email", "password": "long enough password"}, "email"),
        ({"email": "a@b", "password": "long enough password"}, "email"),
        ({"email": "x@example.com", "password": "short"}, "password"),
        ({"email": "x@example.com"}, None),
        ({"password": "long enough password"}, None),
        ({"email": 5, "password": "long enough password"}, None),
        ({"email": "x@example.com", "password": ["x"]}, None),
        ({"email": "x@example.com", "password": "long enough password", "role": "admin"}, None),
        ([], None),
    ],
)
def test_register_bad_input_is_400(
    app_client: TestClient[Any], body: Any, param: str | None
) -> None:
    error = assert_error_body(
        app_client.post("/api/auth/register", json=body), 400, "invalid_request"
    )
    if param:
        assert error["param"] == param


def test_register_bad_json_is_400(app_client: TestClient[Any]) -> None:
    response = app_client.post(
        "/api/auth/register", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert_error_body(response, 400, "invalid_request")


def test_registration_can_be_turned_off(
    app_settings: ApiSettings, fake_persistence: FakePersistence
) -> None:
    settings = replace(app_settings, allow_registration=False)
    app = create_app(
        settings,
        chat_service=ChatService(settings, FakeGateway(), StreamTable()),
        persistence=fake_persistence,
    )
    with TestClient(app=app, raise_server_exceptions=False) as client:
        assert_error_body(client.post("/api/auth/register", json=CREDS), 403, "forbidden")
    assert fake_persistence.count("register") == 0


def _login(client: TestClient[Any], email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_login_refresh_logout_flow(app_client: TestClient[Any]) -> None:
    pair = _login(app_client, "alice@example.com")
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_expires_in"] > 29 * 24 * 3600
    user = verify_token(pair["access_token"], SECRET)
    assert (user.id, user.role) == ("alice", "user")
    assert user.session_id
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert app_client.get("/api/me", headers=headers).json()["id"] == "alice"

    refreshed = app_client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    new_pair = refreshed.json()
    assert new_pair["refresh_token"] != pair["refresh_token"]
    assert verify_token(new_pair["access_token"], SECRET).session_id == user.session_id

    logged_in = _login(app_client, "alice@example.com")  # a second sign-in
    out = app_client.post(
        "/api/auth/logout",
        json={"refresh_token": logged_in["refresh_token"]},
        headers={"Authorization": f"Bearer {logged_in['access_token']}"},
    )
    assert out.status_code == 204
    after = app_client.post("/api/auth/refresh", json={"refresh_token": logged_in["refresh_token"]})
    assert_error_body(after, 401, "unauthorized")
    # the first sign-in goes on
    assert app_client.get("/api/me", headers=headers).status_code == 200


def test_a_refresh_token_used_twice_ends_its_session(app_client: TestClient[Any]) -> None:
    pair = _login(app_client, "alice@example.com")
    new_pair = app_client.post(
        "/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    ).json()
    again = app_client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert_error_body(again, 401, "unauthorized")
    successor = {"refresh_token": new_pair["refresh_token"]}
    assert_error_body(app_client.post("/api/auth/refresh", json=successor), 401, "unauthorized")
    new_headers = {"Authorization": f"Bearer {new_pair['access_token']}"}
    ended = app_client.get("/api/me", headers=new_headers)
    error = assert_error_body(ended, 401, "unauthorized")
    assert error["message"] == "the session has ended: sign in again"


def test_logout_needs_a_token(app_client: TestClient[Any]) -> None:
    response = app_client.post("/api/auth/logout", json={"refresh_token": "x"})
    assert_error_body(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "alice@example.com", "password": "wrong password"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "", "password": ""},
    ],
)
def test_bad_login_is_401(app_client: TestClient[Any], body: dict[str, str]) -> None:
    error = assert_error_body(app_client.post("/api/auth/login", json=body), 401, "unauthorized")
    assert error["message"] == "invalid email or password"


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": 3}])
def test_refresh_bad_body_is_400(app_client: TestClient[Any], body: dict[str, Any]) -> None:
    assert_error_body(app_client.post("/api/auth/refresh", json=body), 400, "invalid_request")


def test_disabled_user_cannot_log_in_or_refresh_or_call(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    pair = _login(app_client, "alice@example.com")
    fake_persistence.users["alice"] = msgspec.structs.replace(
        fake_persistence.users["alice"], disabled=True
    )
    app_client.app.state["authenticator"].forget_user("alice")
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert_error_body(app_client.get("/api/me", headers=headers), 401, "unauthorized")
    assert_error_body(
        app_client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        401,
        "unauthorized",
    )
    response = app_client.post(
        "/api/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert_error_body(response, 401, "unauthorized")


def test_unknown_user_token_is_401(app_client: TestClient[Any]) -> None:
    assert_error_body(app_client.get("/api/me", headers=bearer("ghost")), 401, "unauthorized")


def test_persistence_down_is_503_never_500(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    fake_persistence.down = True
    for response in (
        app_client.get("/api/me", headers=bearer("alice")),
        app_client.post("/api/auth/login", json={"email": "a@example.com", "password": "x" * 9}),
        app_client.post("/api/auth/register", json=CREDS),
        app_client.get("/v1/models", headers=bearer("alice")),
    ):
        error = assert_error_body(response, 503, "service_unavailable")
        assert response.headers["retry-after"]
        assert error["message"]


def test_user_lookup_is_cached(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    headers = bearer("alice")
    for _ in range(5):
        assert app_client.get("/v1/models", headers=headers).status_code == 200
    assert fake_persistence.count("get_user") == 1


def test_role_comes_from_the_user_record(
    app_client: TestClient[Any], fake_persistence: FakePersistence
) -> None:
    # a token that claims admin for a plain user does not open admin routes
    response = app_client.get("/api/admin/users", headers=bearer("alice", role="admin"))
    assert_error_body(response, 403, "forbidden")


# --- API keys ------------------------------------------------------------------------
def test_api_key_lifecycle(app_client: TestClient[Any], fake_persistence: FakePersistence) -> None:
    created = app_client.post("/api/keys", json={"name": "laptop"}, headers=bearer("alice"))
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    key_id = created.json()["key"]["id"]
    assert secret.startswith("sk-llmchat-")

    key_headers = {"Authorization": f"Bearer {secret}"}
    assert app_client.get("/v1/models", headers=key_headers).status_code == 200
    # a key reaches /v1 and chats only
    assert_error_body(app_client.get("/api/me", headers=key_headers), 403, "forbidden")
    created_by_key = app_client.post("/api/keys", json={"name": "x"}, headers=key_headers)
    assert_error_body(created_by_key, 403, "forbidden")
    assert_error_body(app_client.get("/api/admin/users", headers=key_headers), 403, "forbidden")
    assert_error_body(app_client.get("/api/conversations", headers=key_headers), 403, "forbidden")

    listed = app_client.get("/api/keys", headers=bearer("alice")).json()["keys"]
    assert [k["id"] for k in listed] == [key_id]
    assert "secret" not in listed[0]
    assert app_client.get("/api/keys", headers=bearer("bob")).json()["keys"] == []

    # bob cannot revoke alice's key
    assert_error_body(
        app_client.delete(f"/api/keys/{key_id}", headers=bearer("bob")), 404, "not_found"
    )
    assert app_client.delete(f"/api/keys/{key_id}", headers=bearer("alice")).status_code == 204
    # revoked: stops at once in this instance (the cache entry is dropped)
    assert_error_body(app_client.get("/v1/models", headers=key_headers), 401, "unauthorized")


def test_unknown_api_key_is_401(app_client: TestClient[Any]) -> None:
    headers = {"Authorization": "Bearer sk-llmchat-not-a-real-key"}
    assert_error_body(app_client.get("/v1/models", headers=headers), 401, "unauthorized")


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": 3}, {"name": "x" * 101}])
def test_create_key_bad_body_is_400(app_client: TestClient[Any], body: dict[str, Any]) -> None:
    response = app_client.post("/api/keys", json=body, headers=bearer("alice"))
    assert_error_body(response, 400, "invalid_request")


def test_blank_key_name_is_400(app_client: TestClient[Any]) -> None:
    response = app_client.post("/api/keys", json={"name": "   "}, headers=bearer("alice"))
    assert_error_body(response, 400, "invalid_request")


def test_dev_token_still_works(
    app_client: TestClient[Any], app_settings: ApiSettings, fake_persistence: FakePersistence
) -> None:
    fake_persistence.add_user(DEV_USER_ID, role="admin")
    token = dev_token(app_settings)
    response = app_client.get("/api/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
