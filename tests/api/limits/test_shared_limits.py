"""Two api instances, one set of limits in real Redis: the limit holds across both under
concurrent load (the issue's goal is "within 1 %"; the sliding log makes it exact)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import pytest

from chat_api.limits.policy import Limits
from chat_api.limits.redis_store import RedisLimitStore
from chat_api.settings import ApiSettings
from tests.api.fake_persistence import FakePersistence, bearer
from tests.api.limits.conftest import (
    REDIS_URL,
    api_instances,
    chat_body,
    finish,
    hanging,
    policy,
    post_chat,
)

pytestmark = pytest.mark.redis

ALICE = bearer("alice")


async def test_two_instances_share_requests_per_minute(
    limit_settings: ApiSettings, redis_prefix: str, persistence: FakePersistence
) -> None:
    limit, attempts = 100, 300
    stores = [RedisLimitStore.from_url(REDIS_URL, redis_prefix, timeout_s=2.0) for _ in range(2)]
    limits = policy(user=Limits(rpm=limit))
    async with api_instances(limit_settings, limits, list(stores), persistence) as apis:
        clients = [
            httpx.AsyncClient(
                base_url=api.base_url,
                timeout=30,
                limits=httpx.Limits(max_connections=50),
            )
            for api in apis
        ]
        try:
            responses = await asyncio.gather(
                *(post_chat(clients[i % 2], ALICE) for i in range(attempts))
            )
        finally:
            for client in clients:
                await client.aclose()
    for store in stores:
        await store.close()
    by_status = Counter(r.status_code for r in responses)
    assert by_status == {200: limit, 429: attempts - limit}
    # Both instances admitted some and refused some: the limit is shared, not per process.
    admitted = Counter(i % 2 for i, r in enumerate(responses) if r.status_code == 200)
    assert admitted[0] > 0
    assert admitted[1] > 0
    assert all(r.headers["retry-after"].isdigit() for r in responses if r.status_code == 429)


async def test_two_instances_share_concurrent_streams(
    limit_settings: ApiSettings, redis_prefix: str, persistence: FakePersistence
) -> None:
    stores = [RedisLimitStore.from_url(REDIS_URL, redis_prefix, timeout_s=2.0) for _ in range(2)]
    limits = policy(user=Limits(concurrent=3))
    async with api_instances(
        limit_settings, limits, list(stores), persistence, script=hanging
    ) as apis:
        async with (
            httpx.AsyncClient(base_url=apis[0].base_url, timeout=10) as a,
            httpx.AsyncClient(base_url=apis[1].base_url, timeout=10) as b,
        ):
            streams = []
            for http in (a, b, a):
                response = await http.send(
                    http.build_request("POST", "/api/chat", json=chat_body(), headers=ALICE),
                    stream=True,
                )
                assert response.status_code == 200
                streams.append(response)
            assert (await post_chat(b, ALICE)).status_code == 429
            assert (await post_chat(a, ALICE)).status_code == 429
            # A stream ending on instance B frees a slot that instance A can use.
            lines = streams[1].aiter_lines()
            assert await anext(lines) == "event: start"
            data = await anext(lines)
            finish(apis[1].gateway, json.loads(data[6:])["request_id"])
            rest = [line async for line in lines]
            assert "event: done" in rest
            await apis[1].limiter.idle()
            response = await a.send(
                a.build_request("POST", "/api/chat", json=chat_body(), headers=ALICE),
                stream=True,
            )
            assert response.status_code == 200
            streams[1] = response
            for stream in streams:
                await stream.aclose()
    for store in stores:
        await store.close()
