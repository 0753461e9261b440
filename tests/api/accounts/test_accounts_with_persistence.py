"""Accounts, keys, settings, conversations and admin routes against the real persistence
service: the flows, and the access-control matrix (owner / other user / no token /
disabled user) on every route."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.persistence_stack import PASSWORD, Stack, api_settings, start_api
from tests.conftest import NatsServers

pytestmark = pytest.mark.nats


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


async def test_register_login_refresh_logout(stack: Stack) -> None:
    http = stack.http
    email = f"Flow-{uuid.uuid4().hex[:8]}@Example.com"
    registered = await http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    user = registered.json()
    assert user["email"] == email.lower()
    assert user["role"] == "user"
    assert_error(
        await http.post("/api/auth/register", json={"email": email, "password": PASSWORD}),
        409,
        "conflict",
    )
    assert_error(
        await http.post("/api/auth/login", json={"email": email, "password": "wrong password"}),
        401,
        "unauthorized",
    )
    login = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    pair = login.json()
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    me = await http.get("/api/me", headers=headers)
    assert me.json()["id"] == user["id"]

    refreshed = await http.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    new_headers = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await http.get("/api/me", headers=new_headers)).status_code == 200  # now cached
    # The rotated token used again: the whole session ends, its newest tokens too.
    assert_error(
        await http.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        401,
        "unauthorized",
    )
    assert_error(
        await http.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]}),
        401,
        "unauthorized",
    )
    await signed_out(http, new_headers)

    # Logout ends the access token of its session within the time an announcement takes.
    login = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    third = login.json()
    third_headers = {"Authorization": f"Bearer {third['access_token']}"}
    assert (await http.get("/api/me", headers=third_headers)).status_code == 200  # cached
    out = await http.post(
        "/api/auth/logout", json={"refresh_token": third["refresh_token"]}, headers=third_headers
    )
    assert out.status_code == 204
    await signed_out(http, third_headers)
    assert_error(
        await http.post("/api/auth/refresh", json={"refresh_token": third["refresh_token"]}),
        401,
        "unauthorized",
    )


async def signed_out(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """The access token stops working within 2 s (persistence announces the ended session;
    every api instance drops what it cached of the user)."""
    for _ in range(40):
        response = await http.get("/api/me", headers=headers)
        if response.status_code == 401:
            assert response.json()["error"]["message"] == "the session has ended: sign in again"
            return
        await asyncio.sleep(0.05)
    pytest.fail("the access token still works 2 s after its session ended")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/auth/register", {"email": "bad", "password": PASSWORD}),
        ("/api/auth/register", {"email": "x@example.com", "password": "short"}),
        ("/api/auth/register", {"email": "x@example.com"}),
        ("/api/auth/register", {"email": 1, "password": PASSWORD}),
        ("/api/auth/login", {"email": "x@example.com"}),
        ("/api/auth/refresh", {}),
        ("/api/auth/refresh", {"refresh_token": 5}),
    ],
)
async def test_malformed_auth_bodies_are_400(stack: Stack, path: str, body: dict[str, Any]) -> None:
    assert_error(await stack.http.post(path, json=body), 400, "invalid_request")


async def test_bad_json_is_400(stack: Stack) -> None:
    response = await stack.http.post(
        "/api/auth/login", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_request")


async def _owned_resources(stack: Stack, headers: dict[str, str]) -> dict[str, str]:
    conv = await stack.http.post(
        "/api/conversations",
        json={"title": "owner-secret-title", "system_prompt": "owner-secret-prompt"},
        headers=headers,
    )
    assert conv.status_code == 201, conv.text
    key = await stack.http.post("/api/keys", json={"name": "owner-key"}, headers=headers)
    assert key.status_code == 201, key.text
    put = await stack.http.put(
        "/api/settings", json={"system_prompt": "owner-settings-prompt"}, headers=headers
    )
    assert put.status_code == 200, put.text
    return {"conv": conv.json()["id"], "key": key.json()["key"]["id"]}


# (method, path, body, expected status for the owner); {conv} / {key} are the owner's ids
MATRIX: list[tuple[str, str, Any, int]] = [
    ("GET", "/api/me", None, 200),
    ("GET", "/api/conversations", None, 200),
    ("GET", "/api/conversations/{conv}", None, 200),
    ("GET", "/api/conversations/{conv}/export?format=markdown", None, 200),
    ("GET", "/api/conversations/{conv}/export?format=json", None, 200),
    ("PATCH", "/api/conversations/{conv}", {"title": "renamed"}, 200),
    ("POST", "/api/conversations", {"title": "new"}, 201),
    ("GET", "/api/keys", None, 200),
    ("POST", "/api/keys", {"name": "k2"}, 201),
    ("GET", "/api/settings", None, 200),
    ("PUT", "/api/settings", {"temperature": 0.5}, 200),
    ("GET", "/v1/models", None, 200),
    # destructive ones last
    ("DELETE", "/api/keys/{key}", None, 204),
    ("DELETE", "/api/conversations/{conv}", None, 204),
]
OWNER_SECRETS = ("owner-secret-title", "owner-secret-prompt", "owner-settings-prompt")


async def test_access_control_matrix(stack: Stack) -> None:
    http = stack.http
    _owner, owner_headers = await stack.user()
    _, other_headers = await stack.user()
    disabled, disabled_headers = await stack.user()
    ids = await _owned_resources(stack, owner_headers)
    assert (await http.get("/api/me", headers=disabled_headers)).status_code == 200
    response = await http.patch(
        f"/api/admin/users/{disabled['id']}", json={"disabled": True}, headers=stack.admin_headers
    )
    assert response.status_code == 200, response.text

    for method, template, body, owner_status in MATRIX:
        path = template.format(**ids)
        is_owned = "{" in template
        label = f"{method} {path}"
        # (b) another user: never the owner's data; 404 for the owner's ids
        other = await http.request(method, path, json=body, headers=other_headers)
        assert not any(secret in other.text for secret in OWNER_SECRETS), label
        if is_owned:
            assert_error(other, 404, "not_found")
        else:
            assert other.status_code < 300, f"{label}: {other.text}"
        # (c) no token
        assert_error(await http.request(method, path, json=body), 401, "unauthorized")
        # (d) disabled user
        assert_error(
            await http.request(method, path, json=body, headers=disabled_headers),
            401,
            "unauthorized",
        )
        # (a) the owner
        mine = await http.request(method, path, json=body, headers=owner_headers)
        assert mine.status_code == owner_status, f"{label}: {mine.text}"
    # the other user's settings were never the owner's
    theirs = await http.get("/api/settings", headers=other_headers)
    assert theirs.json()["system_prompt"] is None


async def test_admin_routes(stack: Stack) -> None:
    http = stack.http
    user, headers = await stack.user()
    for method, path, body in (
        ("GET", "/api/admin/users", None),
        ("PATCH", f"/api/admin/users/{user['id']}", {"role": "admin"}),
        ("GET", "/api/admin/conversations/whatever", None),
    ):
        assert_error(await http.request(method, path, json=body, headers=headers), 403, "forbidden")
        assert_error(await http.request(method, path, json=body), 401, "unauthorized")
    page = await http.get("/api/admin/users?limit=100", headers=stack.admin_headers)
    assert page.status_code == 200, page.text
    assert any(u["id"] == "dev-admin" for u in page.json()["items"])
    assert page.json()["total"] >= 2
    for query in ("limit=0", "limit=101", "offset=-1"):
        assert_error(
            await http.get(f"/api/admin/users?{query}", headers=stack.admin_headers),
            400,
            "invalid_request",
        )
    # admins may not read other users' conversations (ADMIN_CAN_READ_CONVERSATIONS off)
    conv = await http.post("/api/conversations", json={"title": "private"}, headers=headers)
    cid = conv.json()["id"]
    assert_error(
        await http.get(f"/api/admin/conversations/{cid}", headers=stack.admin_headers),
        403,
        "forbidden",
    )
    assert_error(
        await http.get(f"/api/conversations/{cid}", headers=stack.admin_headers), 404, "not_found"
    )
    # promotion takes effect on the user's next request
    promoted = await http.patch(
        f"/api/admin/users/{user['id']}", json={"role": "admin"}, headers=stack.admin_headers
    )
    assert promoted.json()["role"] == "admin"
    assert (await http.get("/api/admin/users", headers=headers)).status_code == 200
    assert_error(
        await http.patch(
            f"/api/admin/users/{uuid.uuid4().hex}",
            json={"disabled": True},
            headers=stack.admin_headers,
        ),
        404,
        "not_found",
    )


async def test_api_key_works_on_v1_until_revoked(stack: Stack) -> None:
    http = stack.http
    _, headers = await stack.user()
    created = await http.post("/api/keys", json={"name": "ci"}, headers=headers)
    secret = created.json()["secret"]
    key_headers = {"Authorization": f"Bearer {secret}"}
    models = await http.get("/v1/models", headers=key_headers)
    assert models.status_code == 200, models.text
    assert models.json()["data"][0]["id"] == stack.settings.default_model
    listed = (await http.get("/api/keys", headers=headers)).json()["keys"]
    assert [k["name"] for k in listed] == ["ci"]
    assert "secret" not in listed[0]
    # A key reaches /v1 and chats only: not the keys, the account or the conversations.
    for method, path in (
        ("GET", "/api/keys"),
        ("POST", "/api/keys"),
        ("GET", "/api/me"),
        ("GET", "/api/conversations"),
        ("GET", "/api/settings"),
        ("GET", "/api/admin/users"),
    ):
        response = await http.request(method, path, json={"name": "more"}, headers=key_headers)
        assert_error(response, 403, "forbidden")
    key_id = created.json()["key"]["id"]
    assert (await http.delete(f"/api/keys/{key_id}", headers=headers)).status_code == 204
    assert_error(await http.get("/v1/models", headers=key_headers), 401, "unauthorized")
    assert_error(
        await http.delete(f"/api/keys/{uuid.uuid4().hex}", headers=headers), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/conversations", {"title": 1}),
        ("POST", "/api/conversations", {"nope": 1}),
        ("PATCH", "/api/conversations/{conv}", {"title": None}),
        ("GET", "/api/conversations?limit=0", None),
        ("GET", "/api/conversations?limit=101", None),
        ("GET", "/api/conversations?offset=-1", None),
        ("GET", "/api/conversations/{conv}/export?format=pdf", None),
        ("POST", "/api/keys", {}),
        ("POST", "/api/keys", {"name": ""}),
        ("PUT", "/api/settings", {"model": "not-served"}),
        ("PUT", "/api/settings", {"temperature": 9}),
        ("PUT", "/api/settings", {"max_tokens": "many"}),
        ("POST", "/api/auth/logout", {}),
        ("POST", "/api/chat", {"conversation_id": "{conv}", "messages": []}),
    ],
)
async def test_malformed_input_is_4xx(stack: Stack, method: str, path: str, body: Any) -> None:
    _, headers = await stack.user()
    conv = await stack.http.post("/api/conversations", json={}, headers=headers)
    cid = conv.json()["id"]
    if isinstance(body, dict):
        body = {k: (v.replace("{conv}", cid) if isinstance(v, str) else v) for k, v in body.items()}
    response = await stack.http.request(
        method, path.replace("{conv}", cid), json=body, headers=headers
    )
    assert_error(response, 400, "invalid_request")


async def test_conversation_list_search_and_export(stack: Stack) -> None:
    http = stack.http
    _, headers = await stack.user()
    for title in ("alpha", "beta", "alphabet"):
        await http.post("/api/conversations", json={"title": title}, headers=headers)
    page = (await http.get("/api/conversations?q=alpha", headers=headers)).json()
    assert [c["title"] for c in page["items"]] == ["alphabet", "alpha"]
    assert page["total"] == 2
    page = (await http.get("/api/conversations?limit=1&offset=1", headers=headers)).json()
    assert page["total"] == 3
    assert [c["title"] for c in page["items"]] == ["beta"]
    cid = page["items"][0]["id"]
    md = await http.get(f"/api/conversations/{cid}/export?format=markdown", headers=headers)
    assert md.text.startswith("# beta\n")
    assert md.headers["content-disposition"].startswith("attachment;")


async def test_without_persistence_auth_is_503(tmp_path: Path, nats_servers: NatsServers) -> None:
    # private: no persistence service may answer on it
    with nats_servers.private("nats-no-persistence") as nats:
        settings = api_settings(nats.url, tmp_path)
        server, task = await start_api(settings)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}") as http:
                headers = {"Authorization": "Bearer sk-llmchat-whatever"}
                for response in (
                    await http.get("/v1/models", headers=headers),
                    await http.post(
                        "/api/auth/login", json={"email": "a@example.com", "password": PASSWORD}
                    ),
                ):
                    assert_error(response, 503, "service_unavailable")
                    assert response.headers["retry-after"]
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)
