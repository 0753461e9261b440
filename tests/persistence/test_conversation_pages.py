"""Conversation pages against real PostgreSQL and SQLite: the newest messages that fit a
count, a character budget and the service's own reply budget, oldest first, with a cursor
to older ones; a message larger than the whole budget is cut with a marker; and, through a
real nats-server, a conversation of 1.5 MB answers (it used to time out: the reply was over
NATS's 1 MB payload and never sent)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import msgspec
import nats
import pytest
import sqlalchemy as sa
from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.codec import encode
from contracts.conversations import (
    MAX_MESSAGES_PAGE,
    TRUNCATION_MARKER,
    ConversationDetail,
    CreateConversation,
    GetConversation,
    MessageStatus,
    MessageView,
)
from contracts.errors import ErrorCode
from contracts.streams import ensure_streams
from llmchat_sql.database import Database
from persistence.accounts import Accounts
from persistence.conversations import Conversations
from persistence.errors import DomainError
from persistence.models import Message
from tests.persistence.harness import call, running, settings_for
from tests.persistence.test_conversations import new_user

replace = msgspec.structs.replace

pytestmark = pytest.mark.nats

Stored = tuple[str, str, MessageStatus]
"""A message to store: role, content, status."""


async def store(
    db: Database, conv_id: str, messages: list[Stored], times: list[float] | None = None
) -> list[str]:
    """Insert the messages in this order (times: 1000, 1001, ... unless given); their ids."""
    ids = [uuid.uuid4().hex for _ in messages]
    rows = [
        {
            "id": ids[i],
            "conv_id": conv_id,
            "role": role,
            "content": content,
            "status": status,
            "request_id": f"req-{uuid.uuid4().hex}",
            "created_at": times[i] if times else 1000.0 + i,
        }
        for i, (role, content, status) in enumerate(messages)
    ]
    async with db.write() as s:
        await s.execute(sa.insert(Message), rows)
    return ids


def turns(n: int, size: int = 10) -> list[Stored]:
    return [("user" if i % 2 == 0 else "assistant", f"{i:0{size}d}", "complete") for i in range(n)]


async def walk(conversations: Conversations, req: GetConversation) -> list[list[MessageView]]:
    """Every page from the newest back, following ``next_before``."""
    pages: list[list[MessageView]] = []
    while True:
        page = await conversations.get(req)
        pages.append(page.messages)
        if not page.has_more:
            assert page.next_before is None
            return pages
        assert page.next_before == page.messages[0].id
        req = replace(req, before=page.next_before)


async def new_conv(accounts: Accounts, conversations: Conversations) -> tuple[str, str]:
    user = await new_user(accounts)
    conv = await conversations.create(CreateConversation(user_id=user))
    return user, conv.id


async def test_pages_walk_back_in_order_through_equal_times(
    accounts: Accounts, conversations: Conversations, db: Database
) -> None:
    user, conv = await new_conv(accounts, conversations)
    # Three messages share each time: the id orders them, and no page repeats or skips one.
    ids = await store(db, conv, turns(25), times=[1000.0 + i // 3 for i in range(25)])
    expected = [m for _, m in sorted(zip([1000.0 + i // 3 for i in range(25)], ids, strict=True))]
    req = GetConversation(user_id=user, conversation_id=conv, limit=4)

    first = await conversations.get(req)
    assert [m.id for m in first.messages] == expected[-4:]  # the newest, oldest first
    assert (first.has_more, first.next_before) == (True, expected[-4])
    assert first.conversation.message_count == 25

    pages = await walk(conversations, req)
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 4, 1]
    assert [m.id for p in reversed(pages) for m in p] == expected

    everything = await conversations.get(GetConversation(user_id=user, conversation_id=conv))
    assert [m.id for m in everything.messages] == expected  # no paging fields: all that fit
    assert (everything.has_more, everything.next_before) == (False, None)


async def test_char_budget_takes_the_newest_that_fit_and_at_least_one(
    accounts: Accounts, conversations: Conversations, db: Database
) -> None:
    user, conv = await new_conv(accounts, conversations)
    sizes = [50, 10, 30, 20, 40]
    await store(db, conv, [("user", "x" * n, "complete") for n in sizes])
    ref = GetConversation(user_id=user, conversation_id=conv)

    page = await conversations.get(replace(ref, max_chars=65))
    assert [len(m.content) for m in page.messages] == [20, 40]  # 30 more would be 90
    assert page.has_more
    older = await conversations.get(replace(ref, max_chars=65, before=page.next_before))
    assert [len(m.content) for m in older.messages] == [10, 30]
    # A budget smaller than the newest message still gets it: paging always moves on.
    tiny = await conversations.get(replace(ref, max_chars=5))
    assert [len(m.content) for m in tiny.messages] == [40]
    assert not tiny.messages[0].truncated
    # limit 0: the conversation alone, and whether it has messages.
    alone = await conversations.get(replace(ref, limit=0))
    assert (alone.messages, alone.has_more, alone.next_before) == ([], True, None)
    assert alone.conversation.message_count == 5


async def test_filters_leave_out_failed_and_empty_messages(
    accounts: Accounts, conversations: Conversations, db: Database
) -> None:
    user, conv = await new_conv(accounts, conversations)
    await store(
        db,
        conv,
        [
            ("user", "q1", "complete"),
            ("assistant", "a1", "complete"),
            ("user", "q2", "complete"),
            ("assistant", "partial", "failed"),
            ("user", "q3", "complete"),
            ("assistant", "", "cancelled"),
        ],
    )
    req = GetConversation(
        user_id=user,
        conversation_id=conv,
        limit=2,
        statuses=("complete", "cancelled"),
        skip_empty=True,
    )
    page = await conversations.get(req)
    assert [m.content for m in page.messages] == ["q2", "q3"]  # the limit counts kept ones
    assert page.has_more
    assert page.conversation.message_count == 6  # every message, not the page's
    rest = await conversations.get(replace(req, before=page.next_before))
    assert ([m.content for m in rest.messages], rest.has_more) == (["q1", "a1"], False)


async def test_reply_budget_bounds_every_page(accounts: Accounts, db: Database) -> None:
    budget = 32 * 1024
    conversations = Conversations(db, reply_bytes=budget)
    user, conv = await new_conv(accounts, conversations)
    # Multi-byte UTF-8 and characters JSON escapes: bytes, not characters, are counted.
    content = ('é中😀"\\\n\x01' * 400)[:2500]
    await store(db, conv, [("user", f"{i}:{content}", "complete") for i in range(60)])
    req = GetConversation(user_id=user, conversation_id=conv)

    first = await conversations.get(req)
    size = len(encode(first))
    assert first.has_more
    assert budget * 0.8 < size <= budget + 200  # full, within budget (+ the envelope)
    pages = await walk(conversations, req)
    for page in pages:
        assert len(encode(page)) <= budget + 200
    walked = [m.content for p in reversed(pages) for m in p]
    assert walked == [f"{i}:{content}" for i in range(60)]
    assert not any(m.truncated for p in pages for m in p)


async def test_a_message_larger_than_the_whole_budget_is_cut_with_a_marker(
    accounts: Accounts, db: Database
) -> None:
    budget = 16 * 1024
    conversations = Conversations(db, reply_bytes=budget)
    user, conv = await new_conv(accounts, conversations)
    huge = "ab\n😀" * 20_000  # 80,000 characters, about 200 KB of JSON
    await store(db, conv, [("user", "before it", "complete"), ("assistant", huge, "complete")])
    req = GetConversation(user_id=user, conversation_id=conv)

    page = await conversations.get(req)
    (message,) = page.messages
    assert message.truncated
    assert len(encode(page)) <= budget + 200
    cut = message.content.rindex("\n\n[truncated")
    shown = message.content[:cut]
    assert huge.startswith(shown)
    assert message.content[cut:] == TRUNCATION_MARKER.format(total=len(huge), shown=len(shown))
    assert len(encode(shown)) > budget * 0.8  # most of the room went to the content
    assert page.has_more  # the older message did not fit beside it
    older = await conversations.get(replace(req, before=page.next_before))
    assert [(m.content, m.truncated) for m in older.messages] == [("before it", False)]


async def test_bad_page_requests_are_invalid(
    accounts: Accounts, conversations: Conversations, db: Database
) -> None:
    user, conv = await new_conv(accounts, conversations)
    _, other = await new_conv(accounts, conversations)
    (elsewhere,) = await store(db, other, turns(1))
    ref = GetConversation(user_id=user, conversation_id=conv)
    for req in [
        replace(ref, limit=-1),
        replace(ref, limit=MAX_MESSAGES_PAGE + 1),
        replace(ref, max_chars=-1),
        replace(ref, before="no-such-message"),
        replace(ref, before=elsewhere),  # another conversation's message
    ]:
        with pytest.raises(DomainError) as info:
            await conversations.get(req)
        assert info.value.code == ErrorCode.INVALID_REQUEST


@pytest.fixture
async def nc(persistence_nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(persistence_nats_url)
    await ensure_streams(client.jetstream())
    yield client
    await client.drain()


async def test_conversation_over_the_nats_payload_answers_a_page(
    nc: NatsClient, persistence_nats_url: str, db_url: str
) -> None:
    """1.5 MB of messages with the default settings: a bounded page, at once."""
    async with running(settings_for(persistence_nats_url, db_url), nc):
        db = Database(db_url)
        try:
            conversations = Conversations(db)
            user = await new_user(Accounts(db))
            conv = (await conversations.create(CreateConversation(user_id=user))).id
            await store(db, conv, [("user", f"{i}:" + "p" * 30_000, "complete") for i in range(50)])
        finally:
            await db.dispose()
        req = GetConversation(user_id=user, conversation_id=conv)
        started = time.monotonic()
        msg = await nc.request(subjects.CONV_GET, encode(req), timeout=5)
        assert time.monotonic() - started < 2  # answered, not timed out
        assert len(msg.data) < nc.max_payload
        reply = await call(nc, subjects.CONV_GET, req, ConversationDetail)
        assert reply.ok is not None, reply.error
        page = reply.ok
        assert page.has_more
        assert page.messages[-1].content.startswith("49:")
        assert page.conversation.message_count == 50
        seen = len(page.messages)
        while page.has_more:
            req = replace(req, before=page.next_before)
            reply = await call(nc, subjects.CONV_GET, req, ConversationDetail)
            assert reply.ok is not None, reply.error
            page = reply.ok
            seen += len(page.messages)
        assert page.messages[0].content.startswith("0:")
        assert seen == 50
