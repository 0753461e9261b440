"""Redis unreachable: never a 500. Fail open (the default) admits chats unlimited, fail
closed answers 503; either way the outage is logged once and the store is left alone
for a back-off, then tried again."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

import httpx
import pytest

from chat_api.auth import AuthUser
from chat_api.errors import ApiError
from chat_api.limits.limiter import RateLimiter
from chat_api.limits.memory_store import MemoryLimitStore
from chat_api.limits.policy import Limits
from chat_api.limits.redis_store import RedisLimitStore
from chat_api.limits.store import LimitStoreUnavailable, Subject, Verdict
from chat_api.settings import ApiSettings
from contracts.inference import ChatMessage, ChatRequest
from local_stack.ports import free_port
from tests.api.fake_persistence import FakePersistence, bearer
from tests.api.limits.conftest import api_instances, policy, post_chat

USER = AuthUser(id="alice", role="user")


def request(request_id: str = "r1") -> ChatRequest:
    now = time.time()
    return ChatRequest(
        request_id=request_id,
        user_id="alice",
        model="m",
        messages=(ChatMessage(role="user", content="hi"),),
        deadline=now + 30,
        created_at=now,
    )


class FlakyStore(MemoryLimitStore):
    """An in-process store that can be switched off; counts the calls that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.calls = 0

    async def acquire(
        self, subjects: Sequence[Subject], request_id: str, tokens: int, lease_s: float
    ) -> Verdict:
        self.calls += 1
        if self.down:
            raise LimitStoreUnavailable("connection refused")
        return await super().acquire(subjects, request_id, tokens, lease_s)


async def test_redis_errors_become_store_unavailable() -> None:
    store = RedisLimitStore.from_url(f"redis://127.0.0.1:{free_port()}/0", "t", timeout_s=0.5)
    subject = Subject(key="{alice}:user", scope="user", limits=Limits(rpm=1))
    try:
        with pytest.raises(LimitStoreUnavailable):
            await store.acquire([subject], "r1", 1, 30.0)
        with pytest.raises(LimitStoreUnavailable):
            await store.finish([subject], "r1", 1, forget=False)
    finally:
        await store.close()


async def test_fail_open_logs_once_backs_off_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    store = FlakyStore()
    limiter = RateLimiter(policy(user=Limits(rpm=1)), store, fail_open=True, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="chat_api.limits"):
        assert await limiter.acquire(USER, request("a")) is None  # admitted, unlimited
        assert await limiter.acquire(USER, request("b")) is None
        assert store.calls == 1  # backing off: the second chat did not wait on the store
        outage = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(outage) == 1
        assert "failing open" in outage[0].getMessage()

        store.down = False
        now[0] += limiter.outage_backoff_s + 0.1
        ticket = await limiter.acquire(USER, request("c"))
        assert ticket is not None
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        with pytest.raises(ApiError) as info:
            await limiter.acquire(USER, request("d"))
        assert info.value.status_code == 429


async def test_fail_closed_is_503() -> None:
    limiter = RateLimiter(policy(user=Limits(rpm=1)), FlakyStore(), fail_open=False)
    with pytest.raises(ApiError) as info:
        await limiter.acquire(USER, request())
    assert (info.value.status_code, info.value.code) == (503, "service_unavailable")
    assert info.value.headers["Retry-After"] == "5"


@pytest.mark.parametrize(("fail_open", "status"), [(True, 200), (False, 503)])
async def test_dead_redis_over_http(
    limit_settings: ApiSettings, persistence: FakePersistence, fail_open: bool, status: int
) -> None:
    store = RedisLimitStore.from_url(f"redis://127.0.0.1:{free_port()}/0", "t", timeout_s=0.5)
    settings = replace(limit_settings, rate_limit_fail_open=fail_open)
    try:
        async with api_instances(settings, policy(user=Limits(rpm=1)), [store], persistence) as [
            api
        ]:
            async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as http:
                for _ in range(3):
                    response = await post_chat(http, bearer("alice"))
                    assert response.status_code == status
                    if status == 503:
                        body = response.json()["error"]
                        assert body["code"] == "service_unavailable"
                        assert response.headers["retry-after"].isdigit()
    finally:
        await store.close()
