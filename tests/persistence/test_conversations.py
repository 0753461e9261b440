"""Conversations against real PostgreSQL and SQLite: create, list, get, update, delete,
ownership; and the 1,000-message load, page by page (timed, printed, not asserted). Pages
and budgets: ``test_conversation_pages.py``."""

from __future__ import annotations

import time
import uuid

import msgspec
import pytest
import sqlalchemy as sa

from contracts.accounts import RegisterUser
from contracts.conversations import (
    CreateConversation,
    DeleteConversation,
    GetConversation,
    ListConversations,
    UpdateConversation,
)
from contracts.errors import ErrorCode
from llmchat_sql.database import Database
from persistence.accounts import Accounts
from persistence.conversations import Conversations, list_page
from persistence.errors import DomainError
from persistence.messages import MessageRecorder
from persistence.models import Conversation, Message
from tests.persistence import events_factory as ev

pytestmark = pytest.mark.nats


async def new_user(accounts: Accounts, name: str = "") -> str:
    email = f"{name or uuid.uuid4().hex[:8]}@example.com"
    return (await accounts.register(RegisterUser(email=email, password="password1"))).id


async def touch(db: Database, conv_id: str, updated_at: float) -> None:
    async with db.write() as s:
        await s.execute(
            sa.update(Conversation).where(Conversation.id == conv_id).values(updated_at=updated_at)
        )


async def test_create_and_get_empty(accounts: Accounts, conversations: Conversations) -> None:
    user = await new_user(accounts)
    conv = await conversations.create(
        CreateConversation(user_id=user, title=" Plans ", system_prompt="Be kind.")
    )
    assert (conv.title, conv.system_prompt, conv.message_count) == ("Plans", "Be kind.", 0)
    assert conv.created_at == conv.updated_at
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv.id))
    assert detail.conversation == conv
    assert detail.messages == []
    with pytest.raises(DomainError) as info:
        await conversations.create(CreateConversation(user_id="ghost"))
    assert info.value.code == ErrorCode.NOT_FOUND


async def test_list_order_pagination_search_and_counts(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder, db: Database
) -> None:
    user = await new_user(accounts)
    other = await new_user(accounts)
    titles = ["Rust tips", "Python asyncio", "Cooking", "python typing", "100% _literal_"]
    ids = []
    for i, title in enumerate(titles):
        conv = await conversations.create(CreateConversation(user_id=user, title=title))
        await touch(db, conv.id, 1000.0 + i)
        ids.append(conv.id)
    await conversations.create(CreateConversation(user_id=other, title="Python elsewhere"))
    await recorder.record(ev.accepted("r1", ids[0], user, at=2000.0))  # moves "Rust tips" up
    await recorder.record(ev.completed("r1", ids[0], user, at=2001.0))

    page = await conversations.list(ListConversations(user_id=user, limit=2))
    assert page.total == 5
    assert [c.id for c in page.items] == [ids[0], ids[4]]
    assert page.items[0].message_count == 2
    assert page.items[0].updated_at == 2001.0
    assert page.items[1].message_count == 0
    rest = await conversations.list(ListConversations(user_id=user, limit=10, offset=2))
    assert [c.id for c in rest.items] == [ids[3], ids[2], ids[1]]

    found = await conversations.list(ListConversations(user_id=user, query="PYTHON"))
    assert (found.total, [c.id for c in found.items]) == (2, [ids[3], ids[1]])
    literal = await conversations.list(ListConversations(user_id=user, query="0% _l"))
    assert [c.id for c in literal.items] == [ids[4]]  # % and _ match themselves
    assert (await conversations.list(ListConversations(user_id=user, query="_x"))).total == 0
    with pytest.raises(DomainError) as info:
        await conversations.list(ListConversations(user_id=user, limit=0))
    assert info.value.code == ErrorCode.INVALID_REQUEST


async def test_get_returns_messages_oldest_first(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder
) -> None:
    user = await new_user(accounts)
    conv = await conversations.create(CreateConversation(user_id=user))
    # Recorded out of order: the listing follows created_at (the events' time).
    await recorder.record(ev.completed("r2", conv.id, user, text="second answer", at=40.0))
    await recorder.record(ev.accepted("r1", conv.id, user, text="first question", at=10.0))
    await recorder.record(ev.completed("r1", conv.id, user, text="first answer", at=20.0))
    await recorder.record(ev.accepted("r2", conv.id, user, text="second question", at=30.0))
    detail = await conversations.get(GetConversation(user_id=user, conversation_id=conv.id))
    assert [m.content for m in detail.messages] == [
        "first question",
        "first answer",
        "second question",
        "second answer",
    ]
    assert [m.role for m in detail.messages] == ["user", "assistant"] * 2
    assert detail.conversation.message_count == 4


async def test_update_title_and_system_prompt_and_clear_it(
    accounts: Accounts, conversations: Conversations
) -> None:
    user = await new_user(accounts)
    conv = await conversations.create(CreateConversation(user_id=user, title="a"))
    ref = {"user_id": user, "conversation_id": conv.id}
    renamed = await conversations.update(UpdateConversation(**ref, title="b"))
    assert (renamed.title, renamed.system_prompt) == ("b", None)
    prompted = await conversations.update(UpdateConversation(**ref, system_prompt="Be terse."))
    assert (prompted.title, prompted.system_prompt) == ("b", "Be terse.")
    # Decoded from the wire, as the rpc handler does: null clears, absent keeps.
    decode = msgspec.json.Decoder(UpdateConversation).decode
    kept = await conversations.update(decode(msgspec.json.encode(ref | {"title": "c"})))
    assert kept.system_prompt == "Be terse."
    cleared = await conversations.update(decode(msgspec.json.encode(ref | {"system_prompt": None})))
    assert (cleared.title, cleared.system_prompt) == ("c", None)
    with pytest.raises(DomainError) as info:
        await conversations.update(UpdateConversation(**ref, title="x" * 501))
    assert info.value.code == ErrorCode.INVALID_REQUEST


async def test_delete_cascades_to_messages(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder, db: Database
) -> None:
    user = await new_user(accounts)
    conv = await conversations.create(CreateConversation(user_id=user))
    keep = await conversations.create(CreateConversation(user_id=user))
    for c in (conv, keep):
        await recorder.record(ev.accepted(f"r-{c.id}", c.id, user))
        await recorder.record(ev.completed(f"r-{c.id}", c.id, user))
    await conversations.delete(DeleteConversation(user_id=user, conversation_id=conv.id))
    async with db.read() as s:
        left = (await s.execute(sa.select(Message.conv_id))).scalars().all()
    assert left == [keep.id, keep.id]
    with pytest.raises(DomainError) as info:
        await conversations.get(GetConversation(user_id=user, conversation_id=conv.id))
    assert info.value.code == ErrorCode.NOT_FOUND


async def test_database_cascade_without_the_explicit_delete(
    accounts: Accounts, conversations: Conversations, recorder: MessageRecorder, db: Database
) -> None:
    """ON DELETE CASCADE itself works on both dialects (SQLite: foreign_keys pragma on)."""
    user = await new_user(accounts)
    conv = await conversations.create(CreateConversation(user_id=user))
    await recorder.record(ev.accepted("r", conv.id, user))
    async with db.write() as s:
        await s.execute(sa.delete(Conversation).where(Conversation.id == conv.id))
    async with db.read() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


async def test_other_users_conversation_is_not_found(
    accounts: Accounts, conversations: Conversations
) -> None:
    owner = await new_user(accounts)
    intruder = await new_user(accounts)
    conv = await conversations.create(CreateConversation(user_id=owner, title="secret"))
    attempts = [
        conversations.get(GetConversation(user_id=intruder, conversation_id=conv.id)),
        conversations.update(
            UpdateConversation(user_id=intruder, conversation_id=conv.id, title="mine")
        ),
        conversations.delete(DeleteConversation(user_id=intruder, conversation_id=conv.id)),
    ]
    for attempt in attempts:
        with pytest.raises(DomainError) as info:
            await attempt
        assert info.value.code == ErrorCode.NOT_FOUND
    assert (await conversations.list(ListConversations(user_id=intruder))).total == 0
    # any_owner (set by the api for admins only) lifts the scope for reads.
    seen = await conversations.get(
        GetConversation(user_id=intruder, conversation_id=conv.id, any_owner=True)
    )
    assert seen.conversation.title == "secret"


async def test_thousand_message_conversation_loads(
    accounts: Accounts, conversations: Conversations, db: Database
) -> None:
    user = await new_user(accounts)
    conv = await conversations.create(CreateConversation(user_id=user))
    rows = [
        {
            "id": uuid.uuid4().hex,
            "conv_id": conv.id,
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"message {i} " + "lorem ipsum " * 40,
            "status": "complete",
            "request_id": f"req-{i // 2}",
            "created_at": 1000.0 + i,
        }
        for i in range(1000)
    ]
    async with db.write() as s:
        await s.execute(sa.insert(Message), rows)
    req = GetConversation(user_id=user, conversation_id=conv.id)
    await conversations.get(req)  # warm the pool / statement cache
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        pages = [await conversations.get(req)]
        while pages[-1].has_more:  # about 690 KB: two pages of the 512 KB reply budget
            before = pages[-1].next_before
            pages.append(await conversations.get(msgspec.structs.replace(req, before=before)))
        timings.append((time.perf_counter() - started) * 1000)
    messages = [m for page in reversed(pages) for m in page.messages]
    assert len(pages) == 2
    assert len(messages) == 1000
    assert [m.created_at for m in messages] == sorted(m.created_at for m in messages)
    print(
        f"\n[bench] {db.url.get_backend_name()}: 1,000-message conversation loads (2 pages) in "
        f"min {min(timings):.1f} ms, median {sorted(timings)[2]:.1f} ms"
    )


async def test_the_list_reads_a_users_page_through_indexes_not_whole_tables(db: Database) -> None:
    """Listing conversations used to count the messages of every user on each call."""
    statement = list_page([Conversation.user_id == "u1"], limit=20, offset=0)
    sql = str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    async with db.write() as session:
        if db.is_sqlite:
            rows = await session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"))
            plan = [str(row[-1]) for row in rows]
            assert not [step for step in plan if step.startswith("SCAN")], plan
            assert any("conversations USING INDEX" in step for step in plan), plan
            assert any("messages USING" in step and "INDEX" in step for step in plan), plan
        else:
            # A sequential scan only where no index can serve the query at all.
            await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            rows = await session.execute(sa.text(f"EXPLAIN {sql}"))
            plan = [str(row[0]) for row in rows]
            assert not [line for line in plan if "Seq Scan" in line], plan
