"""The cancel subscriber on the worker's FastStream broker, in memory (TestNatsBroker):
a cancel reaches ``InFlight``; a malformed one is dropped and logged."""

from __future__ import annotations

import logging

import pytest
from faststream.nats import TestNatsBroker
from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.codec import encode
from contracts.inference import CancelRequest
from inference_worker.inflight import InFlight
from inference_worker.subscribers.cancels import CancelSubscriber
from llmchat_bus.broker import ServiceBroker


async def test_a_cancel_reaches_inflight() -> None:
    broker = ServiceBroker(NatsClient())
    inflight = InFlight(1)
    CancelSubscriber(broker, inflight)
    async with TestNatsBroker(broker) as test_broker:
        cancel = CancelRequest(request_id="r-1", reason="client_cancelled")
        await test_broker.publish(encode(cancel), subjects.cancel_subject("r-1"))
    assert inflight.cancelled_before_start("r-1") == "client_cancelled"


async def test_a_malformed_cancel_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    broker = ServiceBroker(NatsClient())
    inflight = InFlight(1)
    CancelSubscriber(broker, inflight)
    with caplog.at_level(logging.WARNING, logger="inference_worker.subscribers.cancels"):
        async with TestNatsBroker(broker) as test_broker:
            await test_broker.publish(b'{"request_id": 7}', subjects.cancel_subject("r-2"))
    assert inflight.cancelled_before_start("r-2") is None
    assert any("malformed cancel on inference.cancel.v1.r-2 ignored" in m for m in caplog.messages)
