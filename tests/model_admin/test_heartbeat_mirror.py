"""The heartbeat mirror on model-admin's FastStream broker, in memory (TestNatsBroker):
a heartbeat is written to the bucket as it came; a malformed one is dropped and logged."""

from __future__ import annotations

import logging
from typing import cast

import pytest
from faststream.nats import TestNatsBroker
from nats.aio.client import Client as NatsClient
from nats.js.kv import KeyValue

from contracts import subjects
from contracts.codec import encode
from contracts.workers import WorkerStatus
from llmchat_bus.broker import ServiceBroker
from model_admin.subscribers.heartbeats import HeartbeatMirror


class FakeKv:
    def __init__(self) -> None:
        self.written: dict[str, bytes] = {}

    async def put(self, key: str, value: bytes) -> int:
        self.written[key] = value
        return len(self.written)


def mirror_on_test_broker() -> tuple[ServiceBroker, HeartbeatMirror, FakeKv]:
    broker = ServiceBroker(NatsClient())
    kv = FakeKv()
    return broker, HeartbeatMirror(broker, cast(KeyValue, kv)), kv


async def test_a_heartbeat_is_mirrored_as_it_came() -> None:
    broker, mirror, kv = mirror_on_test_broker()
    status = WorkerStatus(
        worker_id="w/1",
        model="m",
        state="ready",
        in_flight=0,
        capacity=2,
        engine="fake",
        interval_s=1.0,
        sent_at=1.0,
    )
    data = encode(status)
    async with TestNatsBroker(broker) as test_broker:
        await test_broker.publish(data, subjects.heartbeat_subject("w/1"))
    assert kv.written == {subjects.subject_token("w/1"): data}
    assert mirror.mirrored == 1


async def test_a_malformed_heartbeat_is_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker, mirror, kv = mirror_on_test_broker()
    with caplog.at_level(logging.WARNING, logger="model_admin.subscribers.heartbeats"):
        async with TestNatsBroker(broker) as test_broker:
            await test_broker.publish(b"not json", subjects.heartbeat_subject("w-2"))
    assert kv.written == {}
    assert mirror.mirrored == 0
    assert any("malformed heartbeat on" in m for m in caplog.messages)
