"""Admission by measured load: an api whose event loop runs behind refuses new chats with
503 ``overloaded`` + Retry-After, and admits them again once it caught up. The load is
real: the loop is kept busy by blocking it, as CPU-bound work would."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from chat_api.limits.load import LoopLag
from tests.api.conftest import LiveApi


async def hog(seconds: float, slice_s: float = 0.15) -> None:
    """Keep the loop busy: it runs other work only between slices."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(slice_s)  # noqa: ASYNC251 - blocking the loop is the point
        await asyncio.sleep(0.005)


async def until(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_busy_loop_reads_as_overloaded_until_it_catches_up() -> None:
    load = LoopLag(limit_s=0.05, interval_s=0.02)
    never = LoopLag(limit_s=0.0, interval_s=0.02)
    load.start()
    never.start()
    try:
        await asyncio.sleep(0.2)
        assert not load.overloaded
        assert load.lag_s < 0.05
        await hog(0.8)
        assert load.overloaded
        assert load.lag_s > 0.05
        assert not never.overloaded  # a limit of 0 never refuses
        await until(lambda: not load.overloaded)
    finally:
        await load.close()
        await never.close()


def test_the_stream_bound_drops_while_behind_and_rises_while_caught_up() -> None:
    """The rule, lag by lag (the measuring is the test above): the bound holds new chats
    back once the loop fell behind, until it has caught up for good."""
    open_streams = [100]
    load = LoopLag(limit_s=0.1, open_streams=lambda: open_streams[0])
    load.lag_s = 0.01
    load._adjust_bound()
    assert load.stream_bound is None  # never behind: no bound
    assert not load.overloaded

    open_streams[0] = 10  # behind with few streams open: something else slowed it
    load.lag_s = 0.2
    load._adjust_bound()
    assert load.stream_bound is None
    open_streams[0] = 100

    load.lag_s = 0.2  # behind: 90 % of the streams open
    load._adjust_bound()
    assert load.stream_bound == 90
    assert load.overloaded
    open_streams[0] = 95
    load._adjust_bound()
    assert load.stream_bound == 85  # still behind: lower again, from the streams open now

    load.lag_s = 0.07  # under the limit, not under half of it: the bound holds
    load._adjust_bound()
    assert load.stream_bound == 85
    assert load.overloaded  # 95 streams open, at most 85

    load.lag_s = 0.01  # caught up, streams near the bound: it rises 5 % a tick
    bounds = []
    while load.overloaded:
        load._adjust_bound()
        bounds.append(load.stream_bound)
    assert bounds == [89, 93, 97]
    open_streams[0] = 10  # far under the bound: it stays where it is
    load._adjust_bound()
    assert load.stream_bound == 97


def test_no_limit_no_bound() -> None:
    load = LoopLag(limit_s=0.0, open_streams=lambda: 1000)
    load.lag_s = 5.0
    load._adjust_bound()
    assert load.stream_bound is None
    assert not load.overloaded


@pytest.fixture
def live_api_overrides() -> dict[str, Any]:
    return {"max_loop_lag_ms": 50.0}


@pytest.mark.nats
async def test_an_api_behind_refuses_new_chats_then_admits_them(live_api: LiveApi) -> None:
    body = {"messages": [{"role": "user", "content": "hello"}]}
    async with httpx.AsyncClient(
        base_url=live_api.base_url, headers=live_api.headers, timeout=10.0
    ) as http:
        busy = asyncio.create_task(hog(3.0))
        try:
            await asyncio.sleep(0.6)  # the average follows the lag
            shed = await http.post("/api/chat", json=body)
            v1 = await http.post("/v1/chat/completions", json={**body, "model": "x"})
        finally:
            await busy
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "2"
        error = shed.json()["error"]
        assert error["code"] == "overloaded"
        assert "ms behind" in error["message"]
        assert v1.status_code == 503
        assert v1.json()["error"]["code"] == "overloaded"
        metrics = await http.get("/metrics")
        assert "llmchat_api_event_loop_lag_seconds" in metrics.text

        service = live_api.app.state["chat_service"]
        await until(lambda: not service.admission.load.overloaded)
        after = await http.post("/api/chat", json=body)
        # past the load check: no worker serves the test's model
        assert after.json()["error"]["code"] == "model_unavailable"
