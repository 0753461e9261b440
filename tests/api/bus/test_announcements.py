"""The other services' announcements on the api's FastStream broker, in memory
(TestNatsBroker): each reaches every listener (the feed of an admin event stream is one);
a malformed one is logged and dropped; a listener that raises
does not keep the others from hearing it; a removed listener hears nothing more."""

from __future__ import annotations

import asyncio
import logging

import pytest
from faststream.nats import TestNatsBroker
from nats.aio.client import Client as NatsClient

from chat_api.bus.announcements import Announcements
from chat_api.gateway import api_broker
from chat_api.model_admin_client import NatsChangeFeed
from contracts import subjects
from contracts.accounts import AccountChanged
from contracts.admin import AdminChange, SwapStatus
from contracts.codec import encode


def announcements() -> tuple[Announcements, TestNatsBroker]:
    broker = api_broker(NatsClient())
    return Announcements(broker), TestNatsBroker(broker)


async def test_every_listener_hears_an_account_change_even_when_one_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[AccountChanged] = []
    board, test_broker = announcements()

    def failing(change: AccountChanged) -> None:
        raise RuntimeError("listener bug")

    board.accounts.add(failing)
    board.accounts.add(heard.append)
    change = AccountChanged(kind="key", user_id="u1", key_id="k1", at=1.0)
    with caplog.at_level(logging.ERROR, logger="chat_api.bus.announcements"):
        async with test_broker as broker:
            await broker.publish(encode(change), subjects.ACCOUNT_CHANGES)
    assert heard == [change]
    assert any("a listener of account changes failed" in m for m in caplog.messages)


async def test_a_malformed_announcement_is_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[AdminChange] = []
    board, test_broker = announcements()
    board.admin.add(heard.append)
    with caplog.at_level(logging.WARNING, logger="chat_api.bus.announcements"):
        async with test_broker as broker:
            await broker.publish(b'{"kind": "nonsense"}', subjects.ADMIN_CHANGES)
    assert heard == []
    assert any("bad admin change on model-admin.v1.changes" in m for m in caplog.messages)


async def test_the_admin_feed_keeps_the_workers_swap_report_and_drops_the_echo() -> None:
    board, test_broker = announcements()
    feed = NatsChangeFeed(board)
    swap = SwapStatus(command_id="c1", worker_id="w1", phase="loading", at=2.0)
    desired = AdminChange(kind="aliases", at=3.0)
    async with test_broker as broker:
        await broker.publish(encode(swap), subjects.swap_status_subject("w1"))
        await broker.publish(
            encode(AdminChange(kind="swap", swap=swap, at=2.1)), subjects.ADMIN_CHANGES
        )
        await broker.publish(encode(desired), subjects.ADMIN_CHANGES)
        assert await feed.get() == swap
        assert await feed.get() == desired
        await feed.close()
        assert len(board.admin) == len(board.swaps) == 0
        await broker.publish(encode(desired), subjects.ADMIN_CHANGES)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(feed.get(), 0.05)
