"""The relay routes on the api's FastStream broker, in memory (TestNatsBroker): a
``CancelChat`` for a chat this instance relays is answered (Ack, or not_found when it is
not the user's), any other gets no answer; a ``RelayWatch`` reaches the handler."""

from __future__ import annotations

import logging

import msgspec
import pytest
from faststream.nats import TestNatsBroker
from nats.aio.client import Client as NatsClient

from chat_api.bus.background import BackgroundTasks
from chat_api.bus.relay_routes import RelayRoutes
from contracts import codec, subjects
from contracts.errors import ErrorCode
from contracts.inference import CancelChat, RelayWatch
from contracts.rpc import Ack, Reply
from llmchat_bus.broker import ServiceBroker


def relay_here(request: CancelChat) -> bool | None:
    """Relays ``mine`` (the user u-1's) only."""
    if request.request_id != "mine":
        return None
    return request.user_id == "u-1"


async def cancel_answer(request_id: str, user_id: str) -> bytes:
    broker = ServiceBroker(NatsClient())
    routes = RelayRoutes(broker, BackgroundTasks())
    async with TestNatsBroker(broker) as test_broker:
        await routes.serve_cancels(relay_here)
        request = CancelChat(request_id=request_id, user_id=user_id)
        answer = await test_broker.request(
            codec.encode(request), subjects.relay_cancel_subject(request_id)
        )
    body: bytes = answer.body
    return body


async def test_a_cancel_for_a_chat_relayed_here_is_answered_ack() -> None:
    assert await cancel_answer("mine", "u-1") == codec.encode(Reply(ok=Ack()))


async def test_a_cancel_of_another_users_chat_is_refused() -> None:
    reply = msgspec_reply(await cancel_answer("mine", "u-2"))
    assert reply.error is not None
    assert reply.error.code == ErrorCode.NOT_FOUND


async def test_a_cancel_for_a_chat_not_relayed_here_gets_no_answer() -> None:
    assert await cancel_answer("elsewhere", "u-1") == b""


async def test_a_malformed_cancel_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    broker = ServiceBroker(NatsClient())
    routes = RelayRoutes(broker, BackgroundTasks())
    with caplog.at_level(logging.WARNING, logger="chat_api.bus.relay_routes"):
        async with TestNatsBroker(broker) as test_broker:
            await routes.serve_cancels(relay_here)
            answer = await test_broker.request(b"{", subjects.relay_cancel_subject("mine"))
    assert answer.body == b""
    assert any("bad cancel request on" in m for m in caplog.messages)


async def test_a_relay_watch_reaches_the_handler() -> None:
    broker = ServiceBroker(NatsClient())
    routes = RelayRoutes(broker, BackgroundTasks())
    heard: list[str] = []
    async with TestNatsBroker(broker) as test_broker:
        await routes.serve_watches(heard.append)
        payload = codec.encode(RelayWatch(request_id="r-9"))
        await test_broker.publish(payload, subjects.relay_watch_subject("r-9"))
    assert heard == ["r-9"]


async def test_a_watch_said_here_is_heard() -> None:
    broker = ServiceBroker(NatsClient())
    background = BackgroundTasks()
    routes = RelayRoutes(broker, background)
    heard: list[str] = []
    async with TestNatsBroker(broker):
        await routes.serve_watches(heard.append)
        routes.watch("r-10")
        await background.wait(1.0)
    assert heard == ["r-10"]


def msgspec_reply(data: bytes) -> Reply[Ack]:
    return msgspec.json.decode(data, type=Reply[Ack])
