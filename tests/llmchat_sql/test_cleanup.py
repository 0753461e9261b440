"""``PeriodicCleanup``: at start, then every interval; a failure waits for the next turn."""

from __future__ import annotations

import asyncio
import logging

import pytest

from llmchat_sql.cleanup import PeriodicCleanup


async def test_it_cleans_at_start_and_again_after_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    results: list[int | Exception] = [3, RuntimeError("database away"), 2]
    calls = asyncio.Event()

    async def clean() -> int:
        result = results.pop(0)
        if not results:
            calls.set()
        if isinstance(result, Exception):
            raise result
        return result

    cleanup = PeriodicCleanup("old rows", clean, 0.01, logging.getLogger("test"))
    with caplog.at_level(logging.INFO, logger="test"):
        await cleanup.start()
        await asyncio.wait_for(calls.wait(), 5)
        await cleanup.stop(1)
    assert cleanup.removed == 5
    assert "removed 3 old rows" in caplog.text
    assert "removing old rows failed (tried again later)" in caplog.text
    await cleanup.stop(1)  # stopping twice is fine
