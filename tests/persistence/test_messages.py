"""MessageRecorder against real PostgreSQL and SQLite: what each event stores, and
idempotency (redelivery and concurrency)."""

from __future__ import annotations

import asyncio
import time

import pytest

from contracts.accounts import RegisterUser
from contracts.conversations import CreateConversation, GetConversation
from contracts.events import ChatEvent
from contracts.inference import Usage
from persistence.accounts import Accounts
from persistence.conversations import Conversations
from persistence.messages import MessageRecorder, Outcome
from tests.persistence import events_factory as ev

pytestmark = pytest.mark.nats


async def setup_conv(accounts: Accounts, conversations: Conversations) -> tuple[str, str]:
    user = await accounts.register(RegisterUser(email="m@example.com", password="password1"))
    conv = await conversations.create(CreateConversation(user_id=user.id))
    return user.id, conv.id


async def test_accepted_and_completed_store_two_messages_with_tokens(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder
) -> None:
    user, conv = await setup_conv(accounts, conversations)
    usage = Usage(prompt_tokens=11, completion_tokens=5)
    t0 = time.time() + 10
    assert await recorder.record(ev.accepted("r1", conv, user, "2+2?", at=t0)) == Outcome.STORED
    assert (
        await recorder.record(ev.completed("r1", conv, user, "4", at=t0 + 1, usage=usage))
        == Outcome.STORED
    )
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv))
    q, a = detail.messages
    assert (q.role, q.content, q.request_id, q.created_at, q.status) == (
        "user",
        "2+2?",
        "r1",
        t0,
        "complete",
    )
    assert (a.role, a.content, a.token_in, a.token_out, a.status) == (
        "assistant",
        "4",
        11,
        5,
        "complete",
    )
    assert detail.conversation.updated_at == t0 + 1
    # An older event never moves updated_at back.
    await recorder.record(ev.accepted("r0", conv, user, "late", at=t0 - 100))
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv))
    assert detail.conversation.updated_at == t0 + 1


async def test_redelivery_stores_nothing_twice(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder
) -> None:
    user, conv = await setup_conv(accounts, conversations)
    events: list[ChatEvent] = [ev.accepted("r1", conv, user), ev.completed("r1", conv, user)]
    assert [await recorder.record(e) for e in events] == [Outcome.STORED] * 2
    assert [await recorder.record(e) for e in events] == [Outcome.DUPLICATE] * 2
    # A second terminal event of the same request (the worker and the api both reported)
    assert await recorder.record(ev.cancelled("r1", conv, user, "par")) == Outcome.DUPLICATE
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv))
    assert len(detail.messages) == 2


async def test_cancelled_stores_partial_text_marked_cancelled(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder
) -> None:
    user, conv = await setup_conv(accounts, conversations)
    await recorder.record(ev.accepted("r1", conv, user))
    await recorder.record(ev.cancelled("r1", conv, user, "The answer is"))
    await recorder.record(ev.accepted("r2", conv, user))
    await recorder.record(ev.cancelled("r2", conv, user, ""))  # cancelled before any token
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv))
    answers = [m for m in detail.messages if m.role == "assistant"]
    assert [(m.content, m.status) for m in answers] == [
        ("The answer is", "cancelled"),
        ("", "cancelled"),
    ]
    assert answers[0].token_out == 2


async def test_failed_stores_a_failed_assistant_message(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder
) -> None:
    user, conv = await setup_conv(accounts, conversations)
    await recorder.record(ev.accepted("r1", conv, user))
    await recorder.record(ev.failed("r1", conv, user))
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv))
    assert [(m.role, m.status, m.content) for m in detail.messages] == [
        ("user", "complete", "hi"),
        ("assistant", "failed", ""),
    ]


async def test_events_without_conversation_or_for_missing_ones_store_nothing(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder
) -> None:
    user, conv = await setup_conv(accounts, conversations)
    assert await recorder.record(ev.accepted("r1", None, user)) == Outcome.IGNORED
    assert await recorder.record(ev.accepted("r2", "gone", user)) == Outcome.NO_CONVERSATION
    assert await recorder.record(ev.accepted("r3", conv, "someone-else")) == Outcome.NO_CONVERSATION
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv))
    assert detail.messages == []


async def test_concurrent_events_of_one_conversation_are_all_stored(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder
) -> None:
    user, conv = await setup_conv(accounts, conversations)
    events = [
        e
        for i in range(40)
        for e in (ev.accepted(f"r{i}", conv, user), ev.completed(f"r{i}", conv, user))
    ]
    outcomes = await asyncio.gather(*(recorder.record(e) for e in events + events))
    assert outcomes.count(Outcome.STORED) == 80
    assert outcomes.count(Outcome.DUPLICATE) == 80
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv))
    assert len(detail.messages) == 80
    assert len({(m.request_id, m.role) for m in detail.messages}) == 80


async def test_nul_characters_are_stored_as_replacement_characters(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder
) -> None:
    # PostgreSQL text cannot hold U+0000 (a byte-fallback token can decode to it, a client
    # can send it): without this the event would be refused on every redelivery.
    user, conv = await setup_conv(accounts, conversations)
    usage = Usage(prompt_tokens=1, completion_tokens=1)
    assert await recorder.record(ev.accepted("r1", conv, user, "a\x00b")) == Outcome.STORED
    assert (
        await recorder.record(ev.completed("r1", conv, user, "\x00c\x00", usage=usage))
        == Outcome.STORED
    )
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv))
    assert [m.content for m in detail.messages] == ["a\ufffdb", "\ufffdc\ufffd"]
