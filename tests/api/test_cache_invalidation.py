"""Two api instances over one real NATS and persistence: a change made through one of
them reaches the other's caches at once (persistence announces ``AccountChanged``), not
after ``AUTH_CACHE_TTL_S``, which is set to 10 minutes here so only the announcement
can explain a prompt effect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from chat_api.lifespan import USER_SETTINGS_KEY
from chat_api.user_settings import UserSettingsService
from local_stack.ports import free_port
from tests.api.persistence_stack import Stack, start_api
from tests.api.test_errors import assert_error_body

pytestmark = pytest.mark.nats

LONG_TTL_S = 600.0


@pytest.fixture(scope="module")
async def second_api(stack: Stack) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """Another api instance (same secret, NATS and persistence), long cache TTLs."""
    settings = replace(stack.settings, port=free_port(), auth_cache_ttl_s=LONG_TTL_S)
    server, task = await start_api(settings)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=20) as http:
        try:
            yield http, server.config.app
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)


async def within(seconds: float, check: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until ``check()`` holds; fails after ``seconds``."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_disabled_user_is_refused_by_the_other_instance_at_once(
    stack: Stack, second_api: tuple[httpx.AsyncClient, Any]
) -> None:
    other, _ = second_api
    user, headers = await stack.user()
    assert (await other.get("/api/me", headers=headers)).status_code == 200  # now cached there
    disabled = await stack.http.patch(
        f"/api/admin/users/{user['id']}", json={"disabled": True}, headers=stack.admin_headers
    )
    assert disabled.status_code == 200, disabled.text

    async def refused() -> bool:
        return (await other.get("/api/me", headers=headers)).status_code == 401

    await within(2.0, refused)
    assert_error_body(await other.get("/api/me", headers=headers), 401, "unauthorized")


async def test_role_change_applies_on_the_other_instance_at_once(
    stack: Stack, second_api: tuple[httpx.AsyncClient, Any]
) -> None:
    other, _ = second_api
    user, headers = await stack.user()
    assert (await other.get("/api/admin/users", headers=headers)).status_code == 403
    promoted = await stack.http.patch(
        f"/api/admin/users/{user['id']}", json={"role": "admin"}, headers=stack.admin_headers
    )
    assert promoted.status_code == 200, promoted.text

    async def admitted() -> bool:
        return (await other.get("/api/admin/users", headers=headers)).status_code == 200

    await within(2.0, admitted)


async def test_revoked_key_is_refused_by_the_other_instance_at_once(
    stack: Stack, second_api: tuple[httpx.AsyncClient, Any]
) -> None:
    other, _ = second_api
    _, headers = await stack.user()
    created = await stack.http.post("/api/keys", json={"name": "k"}, headers=headers)
    assert created.status_code == 201, created.text
    key_headers = {"Authorization": f"Bearer {created.json()['secret']}"}
    assert (await other.get("/v1/models", headers=key_headers)).status_code == 200  # cached
    key_id = created.json()["key"]["id"]
    assert (await stack.http.delete(f"/api/keys/{key_id}", headers=headers)).status_code == 204

    async def refused() -> bool:
        return (await other.get("/v1/models", headers=key_headers)).status_code == 401

    await within(2.0, refused)


async def test_settings_put_through_one_instance_reach_the_others_chat_defaults(
    stack: Stack, second_api: tuple[httpx.AsyncClient, Any]
) -> None:
    _, app = second_api
    user, headers = await stack.user()
    defaults: UserSettingsService = app.state[USER_SETTINGS_KEY]
    assert (await defaults.for_user(user["id"])).system_prompt is None  # cached there now
    put = await stack.http.put(
        "/api/settings", json={"system_prompt": "Answer in French."}, headers=headers
    )
    assert put.status_code == 200, put.text

    async def seen() -> bool:
        return (await defaults.for_user(user["id"])).system_prompt == "Answer in French."

    await within(2.0, seen)
