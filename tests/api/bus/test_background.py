"""``BackgroundTasks``: fire-and-forget work is awaited at close and a failure is logged,
never raised into whoever spawned it."""

from __future__ import annotations

import asyncio

import pytest

from chat_api.bus.background import BackgroundTasks


async def test_tasks_are_awaited_and_forgotten_when_done() -> None:
    background = BackgroundTasks()
    done: list[int] = []

    async def work(n: int) -> None:
        await asyncio.sleep(0.01)
        done.append(n)

    for n in range(3):
        background.spawn(work(n))
    assert len(background) == 3
    await background.wait(1.0)
    assert sorted(done) == [0, 1, 2]
    await asyncio.sleep(0)  # done callbacks run
    assert len(background) == 0


async def test_a_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    background = BackgroundTasks()

    async def fail() -> None:
        raise RuntimeError("no route")

    background.spawn(fail())
    await background.wait(1.0)
    await asyncio.sleep(0)
    assert "background publish failed: RuntimeError('no route')" in caplog.text
    assert len(background) == 0


async def test_wait_is_bounded() -> None:
    background = BackgroundTasks()
    background.spawn(asyncio.sleep(10))
    await asyncio.wait_for(background.wait(0.05), 1.0)
    assert len(background) == 1
