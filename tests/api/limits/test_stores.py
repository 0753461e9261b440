"""The ``LimitStore`` contract, the same cases against the in-process store and real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chat_api.limits.policy import Limits
from chat_api.limits.store import LimitStore, Subject
from tests.api.limits.conftest import WAIT_S, StoreFactory, until


def subject(key: str = "{u1}:user", scope: str = "user", **limits: int) -> Subject:
    return Subject(key=key, scope=scope, limits=Limits(**limits))


def rid() -> str:
    return uuid.uuid4().hex


async def admitted(store: LimitStore, user: Subject) -> bool:
    return (await store.acquire([user], rid(), 1, 30.0)).allowed


async def admit_many(store: LimitStore, subjects: list[Subject], n: int, tokens: int = 1) -> int:
    allowed = 0
    for _ in range(n):
        verdict = await store.acquire(subjects, rid(), tokens, 30.0)
        allowed += verdict.allowed
    return allowed


async def test_requests_per_minute_exact_with_retry_after(make_store: StoreFactory) -> None:
    store = make_store()
    user = subject(rpm=5)
    assert await admit_many(store, [user], 5) == 5
    verdict = await store.acquire([user], rid(), 1, 30.0)
    assert not verdict.allowed
    assert (verdict.limit, verdict.scope) == ("rpm", "user")
    # The oldest entry leaves the window about a minute after it was admitted.
    assert 55 <= verdict.retry_after_s <= 60
    # Rejections record nothing, another scope is untouched.
    assert await admit_many(store, [user], 3) == 0
    assert await admit_many(store, [subject(key="{u2}:user", rpm=5)], 5) == 5


async def test_window_slides(make_store: StoreFactory) -> None:
    store = make_store(window_s=1.0)
    user = subject(rpm=2)
    assert await admit_many(store, [user], 3) == 2
    verdict = await store.acquire([user], rid(), 1, 30.0)
    assert verdict.retry_after_s == 1  # never less than a second
    await until(lambda: admitted(store, user), within=WAIT_S)


async def test_tokens_reserved_then_settled(make_store: StoreFactory) -> None:
    store = make_store()
    user = subject(tpm=100)
    first, second = rid(), rid()
    assert (await store.acquire([user], first, 60, 30.0)).allowed
    verdict = await store.acquire([user], second, 60, 30.0)
    assert not verdict.allowed
    assert verdict.limit == "tpm"
    assert 55 <= verdict.retry_after_s <= 60
    # The first chat really cost 10 tokens: 90 left.
    await store.finish([user], first, 10, forget=False)
    assert (await store.acquire([user], second, 60, 30.0)).allowed
    assert not (await store.acquire([user], rid(), 40, 30.0)).allowed  # 70 used
    assert (await store.acquire([user], rid(), 30, 30.0)).allowed  # exactly 100


async def test_a_chat_larger_than_the_budget_fits_an_empty_window(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    user = subject(tpm=50)
    assert (await store.acquire([user], rid(), 500, 30.0)).allowed
    assert not (await store.acquire([user], rid(), 1, 30.0)).allowed


async def test_concurrent_slots_are_released(make_store: StoreFactory) -> None:
    store = make_store()
    user = subject(concurrent=2)
    a, b = rid(), rid()
    assert (await store.acquire([user], a, 1, 30.0)).allowed
    assert (await store.acquire([user], b, 1, 30.0)).allowed
    verdict = await store.acquire([user], rid(), 1, 30.0)
    assert (verdict.allowed, verdict.limit, verdict.retry_after_s) == (False, "concurrent", 1)
    await store.finish([user], a, None, forget=False)
    assert (await store.acquire([user], rid(), 1, 30.0)).allowed


async def test_a_lost_slot_expires_with_its_lease(make_store: StoreFactory) -> None:
    """An api instance that crashed never releases: the lease frees the slot."""
    store = make_store()
    user = subject(concurrent=1)
    assert (await store.acquire([user], rid(), 1, 0.3)).allowed
    assert not (await store.acquire([user], rid(), 1, 30.0)).allowed
    await until(lambda: admitted(store, user), within=WAIT_S)


async def test_forget_removes_a_request_everywhere(make_store: StoreFactory) -> None:
    store = make_store()
    user = subject(rpm=1, tpm=10, concurrent=1)
    request_id = rid()
    assert (await store.acquire([user], request_id, 10, 30.0)).allowed
    await store.finish([user], request_id, None, forget=True)
    assert (await store.acquire([user], rid(), 10, 30.0)).allowed


async def test_all_subjects_or_none(make_store: StoreFactory) -> None:
    """A chat over an API key counts against the key and its user atomically: when the
    key is out of budget, the user's budget is not charged."""
    store = make_store()
    user = subject(rpm=10)
    key = subject(key="{u1}:key:k1", scope="api_key", rpm=2)
    assert await admit_many(store, [user, key], 4) == 2
    verdict = await store.acquire([user, key], rid(), 1, 30.0)
    assert (verdict.limit, verdict.scope) == ("rpm", "api_key")
    assert await admit_many(store, [user], 10) == 8  # only the 2 admitted chats counted


async def test_the_longest_wait_is_reported(make_store: StoreFactory) -> None:
    store = make_store()
    user = subject(rpm=1, concurrent=1)
    assert (await store.acquire([user], rid(), 1, 30.0)).allowed
    verdict = await store.acquire([user], rid(), 1, 30.0)
    assert verdict.limit == "rpm"  # ~60 s beats the concurrency retry of 1 s
    assert verdict.retry_after_s >= 55


@pytest.mark.parametrize("n", [50])
async def test_concurrent_acquires_admit_exactly_the_limit(
    make_store: StoreFactory, store_kind: str, n: int
) -> None:
    """Many admissions at once; with Redis over three clients (three api instances)."""
    stores = [make_store() for _ in range(3)] if store_kind == "redis" else [make_store()] * 3
    user = subject(rpm=n)
    results = await asyncio.gather(
        *(stores[i % 3].acquire([user], rid(), 1, 30.0) for i in range(3 * n))
    )
    assert sum(v.allowed for v in results) == n
