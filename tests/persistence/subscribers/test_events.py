"""``EventSubscriber.on_event`` with a fake message: ack / term / retry decisions."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from nats.aio.msg import Msg
from sqlalchemy.exc import OperationalError

from contracts.accounts import RegisterUser
from contracts.codec import encode
from contracts.conversations import CreateConversation
from contracts.events import ChatEvent
from persistence.accounts import Accounts
from persistence.conversations import Conversations
from persistence.messages import MessageRecorder, Outcome
from persistence.subscribers.events import EventSubscriber
from tests.persistence import events_factory as ev


class FakeMsg:
    subject = "chat.events.v1.x"

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[str] = []

    async def ack(self) -> None:
        self.calls.append("ack")

    async def term(self) -> None:
        self.calls.append("term")

    async def nak(self, delay: float | None = None) -> None:
        self.calls.append("nak")

    async def in_progress(self) -> None:
        self.calls.append("in_progress")


class FlakyRecorder:
    """Fails like an unreachable database ``failures`` times, then stores."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[ChatEvent] = []

    async def record(self, event: ChatEvent) -> Outcome:
        if self.failures:
            self.failures -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("down"))
        self.seen.append(event)
        return Outcome.STORED


def subscriber(recorder: FlakyRecorder) -> EventSubscriber:
    return EventSubscriber(
        cast(Any, None), cast(MessageRecorder, recorder), retry_max_s=0.05, poll_s=0.1
    )


@pytest.mark.parametrize("payload", [b"not json", b'{"type": "accepted"}', b'{"type": "?"}'])
async def test_malformed_event_is_terminated(payload: bytes) -> None:
    msg = FakeMsg(payload)
    recorder = FlakyRecorder(0)
    await subscriber(recorder).on_event(cast(Msg, msg))
    assert msg.calls == ["term"]
    assert recorder.seen == []


async def test_database_down_retries_then_acks_once() -> None:
    event = ev.accepted("r1", "c1", "u1")
    msg = FakeMsg(encode(event))
    recorder = FlakyRecorder(3)
    sub = subscriber(recorder)
    await sub.on_event(cast(Msg, msg))
    assert msg.calls == ["in_progress"] * 3 + ["ack"]
    assert recorder.seen == [event]
    assert sub.stored == 1


async def test_stopping_while_the_database_is_down_naks() -> None:
    msg = FakeMsg(encode(ev.accepted("r1", "c1", "u1")))
    sub = subscriber(FlakyRecorder(10_000))
    task = asyncio.create_task(sub.on_event(cast(Msg, msg)))
    await asyncio.sleep(0.2)
    await sub.stop()
    await asyncio.wait_for(task, 2)
    assert msg.calls[-1] == "nak"
    assert "ack" not in msg.calls


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_an_event_the_database_refuses_is_terminated_not_retried(
    accounts: Accounts,
    conversations: Conversations,
    recorder: MessageRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A real refusal: PostgreSQL's request_id column holds 128 characters (SQLSTATE 22001,
    # which asyncpg reports as a bare DBAPIError). Retried in place it would hold up every
    # event behind it for ever.
    user = await accounts.register(RegisterUser(email="r@example.com", password="password1"))
    conv = await conversations.create(CreateConversation(user_id=user.id))
    msg = FakeMsg(encode(ev.completed("r" * 200, conv.id, user.id, "secret answer")))
    sub = EventSubscriber(cast(Any, None), recorder, retry_max_s=0.05, poll_s=0.1)
    outcome = await asyncio.wait_for(sub._store(cast(Msg, msg)), 10)
    assert outcome == "refused"
    assert msg.calls == ["term"]
    refused = [r for r in caplog.records if "refused by the database" in r.getMessage()]
    assert len(refused) == 1
    # The statement's values (the user's text) stay out of the log.
    assert "secret answer" not in caplog.text
