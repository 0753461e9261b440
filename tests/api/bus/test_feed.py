"""A feed hands its items to its one reader in order, waking it when one arrives."""

from __future__ import annotations

import asyncio

import pytest

from chat_api.bus.feeds import Feed
from chat_api.bus.signals import Resync
from contracts.inference import TokenChunk


async def test_items_come_out_in_order_and_a_waiting_reader_is_woken() -> None:
    feed = Feed("r1")
    feed.push(TokenChunk(seq=1, text="a"))
    assert await feed.get() == TokenChunk(seq=1, text="a")
    reader = asyncio.create_task(feed.get())
    await asyncio.sleep(0.01)
    assert not reader.done()  # nothing to read: it waits
    feed.push(TokenChunk(seq=2, text="b"))
    feed.push(TokenChunk(seq=3, text="c"))
    assert await asyncio.wait_for(reader, 1.0) == TokenChunk(seq=2, text="b")
    assert len(feed) == 1
    assert feed.get_nowait() == TokenChunk(seq=3, text="c")
    with pytest.raises(IndexError):
        feed.get_nowait()


async def test_a_cancelled_read_leaves_the_feed_usable() -> None:
    feed = Feed("r1")
    reader = asyncio.create_task(feed.get())
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    feed.push(TokenChunk(seq=1, text="a"))
    assert await asyncio.wait_for(feed.get(), 1.0) == TokenChunk(seq=1, text="a")


async def test_a_closed_feed_takes_no_more_chunks_but_its_reader_can_be_told() -> None:
    closed: list[str] = []
    feed = Feed("r1", close=lambda: closed.append("r1"))
    feed.close()
    feed.close()
    assert closed == ["r1"]  # once
    feed.push(TokenChunk(seq=1, text="late"))
    assert len(feed) == 0
    feed.put(Resync())  # the relay draining a detached stream still reads this
    assert await feed.get() == Resync()
