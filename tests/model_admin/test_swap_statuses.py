"""The swap statuses on model-admin's FastStream broker, in memory (TestNatsBroker): a
status reaches ``ModelAdmin.on_swap_status``, live when recent and as a replay when it was
sent well before this instance started; a malformed one is dropped and logged."""

from __future__ import annotations

import logging
import time
from typing import cast

import pytest
from faststream.nats import TestNatsBroker
from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.admin import SwapStatus
from contracts.codec import encode
from llmchat_bus.broker import ServiceBroker
from model_admin.service import ModelAdmin
from model_admin.subscribers.swap_statuses import REPLAYED_BEFORE_S, SwapStatuses


class RecordingAdmin:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    async def on_swap_status(self, status: SwapStatus, *, live: bool = True) -> None:
        self.seen.append((status.command_id, live))


async def test_recent_statuses_are_live_and_old_ones_replayed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = ServiceBroker(NatsClient())
    admin = RecordingAdmin()
    statuses = SwapStatuses(broker, cast(ModelAdmin, admin))
    now = time.time()
    old = SwapStatus(
        command_id="c-old", worker_id="w1", phase="ready", at=now - REPLAYED_BEFORE_S - 60
    )
    new = SwapStatus(command_id="c-new", worker_id="w1", phase="loading", at=now + 1)
    with caplog.at_level(logging.WARNING, logger="model_admin.subscribers.swap_statuses"):
        async with TestNatsBroker(broker) as test_broker:
            await statuses.start()
            subject = subjects.swap_status_subject("w1")
            await test_broker.publish(encode(old), subject, stream=subjects.ADMIN_STREAM)
            await test_broker.publish(b"{}", subject, stream=subjects.ADMIN_STREAM)
            await test_broker.publish(encode(new), subject, stream=subjects.ADMIN_STREAM)
    assert admin.seen == [("c-old", False), ("c-new", True)]
    assert any("malformed swap status on" in m for m in caplog.messages)
