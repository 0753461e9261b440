"""Rate limits over HTTP on a real api (uvicorn), for both stores: 429 + Retry-After on
/api/chat and /v1/chat/completions, stream slots released on end and on disconnect,
token reservation and settlement, per-role and per-API-key budgets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import openai
import pytest

from chat_api.limits.policy import Limits
from chat_api.settings import ApiSettings
from tests.api.fake_gateway import FakeGateway
from tests.api.fake_persistence import FakePersistence, bearer
from tests.api.limits.conftest import (
    StoreFactory,
    api_instances,
    chat_body,
    finish,
    hanging,
    policy,
    post_chat,
    until,
)

ALICE = bearer("alice")
ROOT = bearer("root", role="admin")


def assert_rate_limited(response: httpx.Response, what: str) -> int:
    assert response.status_code == 429, response.text
    body = response.json()["error"]
    assert body["code"] == "rate_limited"
    assert body["type"] == "rate_limit_error"
    assert body["request_id"] == response.headers["x-request-id"]
    assert what in body["message"]
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    return int(retry_after)


async def test_requests_per_minute_on_api_and_v1(
    limit_settings: ApiSettings, make_store: StoreFactory, persistence: FakePersistence
) -> None:
    limits = policy(user=Limits(rpm=3))
    async with api_instances(limit_settings, limits, [make_store()], persistence) as [api]:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as http:
            assert (await post_chat(http, ALICE)).status_code == 200
            v1 = await http.post(
                "/v1/chat/completions",
                json={"model": "gemma3-270m", **chat_body()},
                headers=ALICE,
            )
            assert v1.status_code == 200
            # A request that fails validation is not counted.
            assert (await post_chat(http, ALICE, temperature=5)).status_code == 400
            assert (await post_chat(http, ALICE)).status_code == 200
            retry = assert_rate_limited(await post_chat(http, ALICE), "requests per minute")
            assert 1 <= retry <= 60
            v1 = await http.post(
                "/v1/chat/completions",
                json={"model": "gemma3-270m", **chat_body()},
                headers=ALICE,
            )
            assert_rate_limited(v1, "requests per minute")
            # Another user, and an admin (unlimited by default), are not affected.
            assert (await post_chat(http, bearer("bob"))).status_code == 200
            for _ in range(5):
                assert (await post_chat(http, ROOT)).status_code == 200
            # Other routes are not limited.
            assert (await http.get("/v1/models", headers=ALICE)).status_code == 200

        client = openai.AsyncOpenAI(
            base_url=f"{api.base_url}/v1", api_key=ALICE["Authorization"][7:], max_retries=0
        )
        try:
            with pytest.raises(openai.RateLimitError) as info:
                await client.chat.completions.create(
                    model="gemma3-270m", messages=[{"role": "user", "content": "hi"}]
                )
            assert info.value.code == "rate_limited"
            assert info.value.response.headers["retry-after"].isdigit()
        finally:
            await client.close()


class OpenStream:
    """A chat whose ``start`` event has been read; ``close`` = the client walks away."""

    def __init__(self, stack: AsyncExitStack, lines: AsyncIterator[str], request_id: str) -> None:
        self._stack = stack
        self._lines = lines
        self.request_id = request_id

    async def close(self) -> None:
        await self._stack.aclose()


async def open_stream(http: httpx.AsyncClient, headers: dict[str, str], **extra: Any) -> OpenStream:
    stack = AsyncExitStack()
    response = await stack.enter_async_context(
        http.stream("POST", "/api/chat", json=chat_body(**extra), headers=headers)
    )
    assert response.status_code == 200, await response.aread()
    lines = response.aiter_lines()
    stack.push_async_callback(lines.aclose)  # type: ignore[attr-defined]
    async for line in lines:
        if line.startswith("data: "):
            request_id: str = json.loads(line[6:])["request_id"]
            return OpenStream(stack, lines, request_id)
    raise AssertionError("the stream ended before its start event")


async def test_stream_slots_released_on_end_and_on_disconnect(
    limit_settings: ApiSettings, make_store: StoreFactory, persistence: FakePersistence
) -> None:
    limits = policy(user=Limits(concurrent=2))
    async with api_instances(
        limit_settings, limits, [make_store()], persistence, script=hanging
    ) as [api]:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as http:
            first = await open_stream(http, ALICE)
            second = await open_stream(http, ALICE)
            assert_rate_limited(await post_chat(http, ALICE), "concurrent streams")
            admins = await open_stream(http, ROOT)  # an admin has no limit

            # The worker ends the first stream: its slot is free again.
            finish(api.gateway, first.request_id)
            await first.close()
            third = await open_stream(http, ALICE)
            assert_rate_limited(await post_chat(http, ALICE), "concurrent streams")

            # The client walks away from the second: the api notices, frees the slot.
            await second.close()
            await until(lambda: len(api.service.streams) == 2)  # third + the admin's
            await api.limiter.idle()
            fourth = await open_stream(http, ALICE)
            for stream in (third, fourth, admins):
                await stream.close()


async def test_token_budget_reserved_then_settled(
    limit_settings: ApiSettings, make_store: StoreFactory, persistence: FakePersistence
) -> None:
    # "hi" reserves 1 (prompt estimate: 2 chars) + 1 (per message) + max_tokens.
    limits = policy(user=Limits(tpm=100))
    async with api_instances(
        limit_settings, limits, [make_store()], persistence, script=hanging
    ) as [api]:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as http:
            first = await open_stream(http, ALICE, content="hi", max_tokens=58)
            # 60 reserved: a second chat of 60 does not fit, one of 40 does.
            rejected = await post_chat(http, ALICE, "hi", max_tokens=58)
            assert 55 <= assert_rate_limited(rejected, "tokens per minute") <= 60
            # The first chat really cost 3 + 2 tokens; the budget follows.
            finish(api.gateway, first.request_id, prompt=3, completion=2)
            await first.close()
            await api.limiter.idle()
            second = await open_stream(http, ALICE, content="hi", max_tokens=58)  # 65
            third = await open_stream(http, ALICE, content="hi", max_tokens=33)  # 100
            assert_rate_limited(await post_chat(http, ALICE, "hi", max_tokens=1), "tokens")
            await second.close()
            await third.close()


async def test_without_max_tokens_the_default_is_reserved(
    limit_settings: ApiSettings, make_store: StoreFactory, persistence: FakePersistence
) -> None:
    limits = policy(user=Limits(tpm=300))  # the default reservation is 256 + prompt
    async with api_instances(
        limit_settings, limits, [make_store()], persistence, script=hanging
    ) as [api]:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as http:
            first = await open_stream(http, ALICE, content="hi")
            assert_rate_limited(await post_chat(http, ALICE, "hi"), "tokens per minute")
            await first.close()


async def test_api_key_has_its_own_budget_inside_the_users(
    limit_settings: ApiSettings, make_store: StoreFactory, persistence: FakePersistence
) -> None:
    created = await persistence.create_api_key("alice", "ci")
    key = {"Authorization": f"Bearer {created.secret}"}
    limits = policy(user=Limits(rpm=4), user_key=Limits(rpm=2))
    async with api_instances(limit_settings, limits, [make_store()], persistence) as [api]:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as http:
            assert (await post_chat(http, key)).status_code == 200
            assert (await post_chat(http, key)).status_code == 200
            assert_rate_limited(await post_chat(http, key), "API key")
            # The key's chats counted for alice too: 2 of her 4 are left.
            assert (await post_chat(http, ALICE)).status_code == 200
            assert (await post_chat(http, ALICE)).status_code == 200
            assert_rate_limited(await post_chat(http, ALICE), "this user")


async def test_limits_follow_the_role(
    limit_settings: ApiSettings, make_store: StoreFactory, persistence: FakePersistence
) -> None:
    limits = policy(user=Limits(rpm=1), admin=Limits(rpm=2))
    async with api_instances(limit_settings, limits, [make_store()], persistence) as [api]:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as http:
            results = [(await post_chat(http, ROOT)).status_code for _ in range(3)]
            assert results == [200, 200, 429]
            results = [(await post_chat(http, ALICE)).status_code for _ in range(2)]
            assert results == [200, 429]


async def test_a_chat_that_cannot_be_queued_costs_nothing(
    limit_settings: ApiSettings, make_store: StoreFactory, persistence: FakePersistence
) -> None:
    from chat_api.bus import GatewayUnavailable

    limits = policy(user=Limits(rpm=1, concurrent=1))
    async with api_instances(limit_settings, limits, [make_store()], persistence) as [api]:
        gateway: FakeGateway = api.gateway
        async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as http:
            gateway.fail_with = GatewayUnavailable("bus down")
            assert (await post_chat(http, ALICE)).status_code == 503
            await api.limiter.idle()
            gateway.fail_with = None
            assert (await post_chat(http, ALICE)).status_code == 200


async def test_concurrent_load_on_one_instance_admits_exactly_the_limit(
    limit_settings: ApiSettings, make_store: StoreFactory, persistence: FakePersistence
) -> None:
    limits = policy(user=Limits(rpm=40))
    async with api_instances(limit_settings, limits, [make_store()], persistence) as [api]:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            responses = await asyncio.gather(*(post_chat(http, ALICE) for _ in range(100)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 40
    assert statuses.count(429) == 60
