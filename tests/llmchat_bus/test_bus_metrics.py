"""FastStream's Prometheus middleware on a service broker (in memory, TestNatsBroker):
messages on a per-chat wildcard subject count under the subject family, one series
however many chats; an exact subject under itself; no registry, no middleware."""

from __future__ import annotations

import logging

from faststream.nats import TestNatsBroker
from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from contracts import codec, subjects
from contracts.inference import CancelChat
from contracts.rpc import Ping
from llmchat_bus.broker import ServiceBroker, Subscription
from llmchat_bus.bus_metrics import bus_metrics

log = logging.getLogger(__name__)


def received(registry: CollectorRegistry, handler: str) -> float | None:
    return registry.get_sample_value(
        "llmchat_bus_received_messages_total",
        {"app_name": "api", "broker": "nats", "handler": handler},
    )


async def test_per_chat_subjects_count_under_their_family() -> None:
    registry = CollectorRegistry()
    broker = ServiceBroker(NatsClient(), middlewares=bus_metrics(registry, "api"))
    heard: list[object] = []

    async def handle(message: object) -> None:
        heard.append(message)

    for subject, payload, decode in (
        (subjects.RELAY_CANCEL_SUBJECTS, CancelChat, codec.decode_cancel_chat),
        (subjects.ADMIN_PING, Ping, lambda data: data),
    ):
        Subscription(
            broker,
            subject,
            payload=payload,
            decode=decode,
            handle=handle,
            malformed="bad %s: %s",
            logger=log,
        )
    async with TestNatsBroker(broker) as test_broker:
        for request_id in ("r1", "r2", "r3"):
            cancel = CancelChat(request_id=request_id, user_id="u1")
            await test_broker.publish(
                codec.encode(cancel), subjects.relay_cancel_subject(request_id)
            )
        await test_broker.publish(b"{}", subjects.ADMIN_PING)
    assert len(heard) == 4
    assert received(registry, subjects.RELAY_CANCEL_SUBJECTS) == 3
    assert received(registry, subjects.relay_cancel_subject("r1")) is None
    assert received(registry, subjects.ADMIN_PING) == 1
    handlers = {
        sample.labels["handler"]
        for family in registry.collect()
        for sample in family.samples
        if "handler" in sample.labels
    }
    assert handlers == {subjects.RELAY_CANCEL_SUBJECTS, subjects.ADMIN_PING}


def test_no_registry_no_middleware() -> None:
    assert bus_metrics(None, "api") == ()
