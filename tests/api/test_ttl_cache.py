"""``TTLCache``: expiry, disable with ttl 0, bounded size, discard."""

from __future__ import annotations

from chat_api.ttl_cache import TTLCache


def test_entries_expire() -> None:
    now = [0.0]
    cache: TTLCache[str, int] = TTLCache(2.0, clock=lambda: now[0])
    cache.put("a", 1)
    assert cache.get("a") == 1
    now[0] = 1.9
    assert cache.get("a") == 1
    now[0] = 2.0
    assert cache.get("a") is None
    assert len(cache) == 0


def test_zero_ttl_disables() -> None:
    cache: TTLCache[str, int] = TTLCache(0)
    cache.put("a", 1)
    assert cache.get("a") is None


def test_size_is_bounded_and_discard_works() -> None:
    cache: TTLCache[int, int] = TTLCache(60, max_entries=10)
    for i in range(25):
        cache.put(i, i)
    assert len(cache) <= 10
    assert cache.get(24) == 24
    cache.discard(24)
    assert cache.get(24) is None
    cache.discard_where(lambda v: v % 2 == 0)
    assert all(cache.get(i) is None for i in range(0, 25, 2))
