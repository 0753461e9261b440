"""Conversations and their messages, always scoped by the owner's ``user_id``.

Another user's conversation is ``not_found`` (``GetConversation.any_owner`` lifts that for
reads). ``updated_at`` is the last activity: creation or a stored message; renaming does
not move a conversation in the list.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.conversations import (
    ConversationDetail,
    ConversationList,
    ConversationView,
    CreateConversation,
    DeleteConversation,
    GetConversation,
    ListConversations,
    MessageView,
    UpdateConversation,
)
from contracts.rpc import Ack
from nats_service.database import Database
from persistence.errors import invalid, not_found
from persistence.models import Conversation, Message, User

MAX_TITLE = 500
MAX_PAGE = 200
MAX_QUERY = 200


def conversation_view(c: Conversation, message_count: int) -> ConversationView:
    return ConversationView(
        id=c.id,
        user_id=c.user_id,
        title=c.title,
        system_prompt=c.system_prompt,
        created_at=c.created_at,
        updated_at=c.updated_at,
        message_count=message_count,
    )


def _title(title: str) -> str:
    title = title.strip()
    if len(title) > MAX_TITLE:
        raise invalid(f"title must be at most {MAX_TITLE} characters")
    return title


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_MESSAGE_COLUMNS = (
    Message.id,
    Message.role,
    Message.content,
    Message.token_in,
    Message.token_out,
    Message.status,
    Message.request_id,
    Message.created_at,
)


class Conversations:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def create(self, req: CreateConversation) -> ConversationView:
        now = self._clock()
        conv = Conversation(
            id=uuid.uuid4().hex,
            user_id=req.user_id,
            title=_title(req.title),
            system_prompt=req.system_prompt,
            created_at=now,
            updated_at=now,
        )
        async with self._db.write() as s:
            if await s.get(User, req.user_id) is None:
                raise not_found("user")
            s.add(conv)
        return conversation_view(conv, 0)

    async def list(self, req: ListConversations) -> ConversationList:
        if not (1 <= req.limit <= MAX_PAGE):
            raise invalid(f"limit must be in [1, {MAX_PAGE}]")
        if req.offset < 0:
            raise invalid("offset must be >= 0")
        where = [Conversation.user_id == req.user_id]
        query = (req.query or "").strip()
        if len(query) > MAX_QUERY:
            raise invalid(f"query must be at most {MAX_QUERY} characters")
        if query:
            pattern = f"%{_escape_like(query.lower())}%"
            where.append(sa.func.lower(Conversation.title).like(pattern, escape="\\"))
        counts = (
            sa.select(Message.conv_id, sa.func.count().label("n"))
            .group_by(Message.conv_id)
            .subquery()
        )
        page = (
            sa.select(Conversation, sa.func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.conv_id == Conversation.id)
            .where(*where)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(req.limit)
            .offset(req.offset)
        )
        async with self._db.read() as s:
            total = await s.scalar(
                sa.select(sa.func.count()).select_from(Conversation).where(*where)
            )
            rows = (await s.execute(page)).all()
        return ConversationList(items=[conversation_view(c, n) for c, n in rows], total=total or 0)

    async def get(self, req: GetConversation) -> ConversationDetail:
        """The conversation and all its messages, oldest first: two queries in all."""
        async with self._db.read() as s:
            conv = await self._owned(s, req.user_id, req.conversation_id, req.any_owner)
            rows = (
                await s.execute(
                    sa.select(*_MESSAGE_COLUMNS)
                    .where(Message.conv_id == conv.id)
                    .order_by(Message.created_at, Message.id)
                )
            ).all()
        messages = [
            MessageView(
                id=r.id,
                role=r.role,
                content=r.content,
                token_in=r.token_in,
                token_out=r.token_out,
                status=r.status,
                request_id=r.request_id,
                created_at=r.created_at,
            )
            for r in rows
        ]
        return ConversationDetail(
            conversation=conversation_view(conv, len(messages)), messages=messages
        )

    async def update(self, req: UpdateConversation) -> ConversationView:
        async with self._db.write() as s:
            conv = await self._owned(s, req.user_id, req.conversation_id)
            if not isinstance(req.title, msgspec.UnsetType):
                conv.title = _title(req.title)
            if not isinstance(req.system_prompt, msgspec.UnsetType):
                conv.system_prompt = req.system_prompt
            count = await s.scalar(
                sa.select(sa.func.count()).select_from(Message).where(Message.conv_id == conv.id)
            )
        return conversation_view(conv, count or 0)

    async def delete(self, req: DeleteConversation) -> Ack:
        """Deletes the conversation and (cascade) its messages."""
        async with self._db.write() as s:
            conv = await self._owned(s, req.user_id, req.conversation_id)
            # Explicit as well as ON DELETE CASCADE: no reliance on SQLite's pragma alone.
            await s.execute(sa.delete(Message).where(Message.conv_id == conv.id))
            await s.execute(sa.delete(Conversation).where(Conversation.id == conv.id))
        return Ack()

    async def _owned(
        self, s: AsyncSession, user_id: str, conversation_id: str, any_owner: bool = False
    ) -> Conversation:
        conv = await s.get(Conversation, conversation_id)
        if conv is None or (conv.user_id != user_id and not any_owner):
            raise not_found("conversation")
        return conv
