"""Conversations and their messages, always scoped by the owner's ``user_id``.

Another user's conversation is ``not_found`` (``GetConversation.any_owner`` lifts that for
reads). ``updated_at`` is the last activity: creation or a stored message; renaming does
not move a conversation in the list.

``get`` answers one page of messages, the newest that fit, never more than
``reply_bytes`` of encoded JSON: a conversation can grow without bound, a NATS reply
cannot (1 MB by default; a larger one is never sent and the caller waits in vain).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.codec import encode
from contracts.conversations import (
    MAX_MESSAGES_PAGE,
    TRUNCATION_MARKER,
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
from llmchat_sql.database import Database
from persistence.errors import invalid, not_found
from persistence.models import Conversation, Message, User

MAX_TITLE = 500
MAX_PAGE = 200
MAX_QUERY = 200
REPLY_BYTES = 512 * 1024
"""Default budget of one ``get`` reply: the encoded conversation and messages. Half the
default NATS max payload: room for the envelope and headers, and to spare."""


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


_AnyRow = sa.Row[*tuple[Any, ...]]

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


def _message_view(r: _AnyRow) -> MessageView:
    return MessageView(
        id=r.id,
        role=r.role,
        content=r.content,
        token_in=r.token_in,
        token_out=r.token_out,
        status=r.status,
        request_id=r.request_id,
        created_at=r.created_at,
    )


def _older(created_at: float, message_id: str) -> sa.ColumnElement[bool]:
    """Before ``(created_at, id)`` in the listing order (the id breaks equal times)."""
    return sa.or_(
        Message.created_at < created_at,
        sa.and_(Message.created_at == created_at, Message.id < message_id),
    )


def _newer(created_at: float, message_id: str) -> sa.ColumnElement[bool]:
    return sa.or_(
        Message.created_at > created_at,
        sa.and_(Message.created_at == created_at, Message.id > message_id),
    )


def _take(chars: list[int], budget: int) -> int:
    """How many of these contents (newest first) fit ``budget``: at least one."""
    taken, used = 0, 0
    for n in chars:
        if taken and used + n > budget:
            break
        taken += 1
        used += n
    return taken


def _truncated(view: MessageView, room: int) -> MessageView:
    """``view`` with as much of its content as keeps its JSON within ``room`` bytes, and
    the marker (JSON escapes and UTF-8 make bytes per character vary: measured, not
    guessed)."""
    content = view.content
    widest = TRUNCATION_MARKER.format(total=len(content), shown=len(content))
    fixed = len(encode(msgspec.structs.replace(view, content=widest, truncated=True)))
    avail = max(room - fixed, 0)  # bytes for the beginning of the content, quotes aside
    shown = min(len(content), avail)
    while shown:
        size = len(encode(content[:shown])) - 2
        if size <= avail:
            break
        shown = min(shown - 1, shown * avail // size)
    marker = TRUNCATION_MARKER.format(total=len(content), shown=shown)
    return msgspec.structs.replace(view, content=content[:shown] + marker, truncated=True)


def _within(rows: Sequence[_AnyRow], budget: int) -> tuple[list[MessageView], bool]:
    """The newest rows (newest first) whose JSON fits ``budget`` bytes, and whether any
    was left out. The newest always comes, cut to the budget if it alone is larger."""
    views: list[MessageView] = []
    used = 0
    for i, row in enumerate(rows):
        view = _message_view(row)
        size = len(encode(view)) + 1  # and the comma before the next
        if used + size > budget:
            if i == 0:
                return [_truncated(view, budget)], len(rows) > 1
            return views, True
        views.append(view)
        used += size
    return views, False


def list_page(where: list[sa.ColumnElement[bool]], limit: int, offset: int) -> sa.Select[Any]:
    """One page of a user's conversations, newest first, with each one's message count:
    the user's conversations through ``ix_conversations_user_id_updated_at``, and the
    count of only the page's conversations, each through ``ix_messages_conv_id_created_at``
    (never the whole messages table)."""
    message_count = (
        sa.select(sa.func.count())
        .select_from(Message)
        .where(Message.conv_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )
    return (
        sa.select(Conversation, message_count)
        .where(*where)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit)
        .offset(offset)
    )


class Conversations:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], float] = time.time,
        *,
        reply_bytes: int = REPLY_BYTES,
    ) -> None:
        self._db = db
        self._clock = clock
        self._reply_bytes = reply_bytes

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
        page = list_page(where, req.limit, req.offset)
        async with self._db.read() as s:
            total = await s.scalar(
                sa.select(sa.func.count()).select_from(Conversation).where(*where)
            )
            rows = (await s.execute(page)).all()
        return ConversationList(items=[conversation_view(c, n) for c, n in rows], total=total or 0)

    async def get(self, req: GetConversation) -> ConversationDetail:
        """The conversation and one page of its messages (``GetConversation``), oldest
        first: the newest that fit ``limit``, ``max_chars`` and ``reply_bytes``.

        First the sizes of at most ``limit + 1`` messages (no content) pick the page, then
        only its contents are read: a long conversation is never loaded whole."""
        limit = MAX_MESSAGES_PAGE if req.limit is None else req.limit
        if not (0 <= limit <= MAX_MESSAGES_PAGE):
            raise invalid(f"limit must be in [0, {MAX_MESSAGES_PAGE}]")
        if req.max_chars is not None and req.max_chars < 0:
            raise invalid("max_chars must be >= 0")
        async with self._db.read() as s:
            conv = await self._owned(s, req.user_id, req.conversation_id, req.any_owner)
            count = await s.scalar(
                sa.select(sa.func.count()).select_from(Message).where(Message.conv_id == conv.id)
            )
            view = conversation_view(conv, count or 0)
            where = [Message.conv_id == conv.id]
            if req.statuses is not None:
                where.append(Message.status.in_(req.statuses))
            if req.skip_empty:
                where.append(Message.content != "")
            if req.before is not None:
                anchor = (
                    await s.execute(
                        sa.select(Message.created_at, Message.id).where(
                            Message.conv_id == conv.id, Message.id == req.before
                        )
                    )
                ).first()
                if anchor is None:
                    raise invalid("before: no such message in this conversation")
                where.append(_older(anchor.created_at, anchor.id))
            budget = self._reply_bytes - len(encode(view))
            # A character is at least one byte of JSON: more characters cannot fit.
            chars = budget if req.max_chars is None else min(req.max_chars, budget)
            newest_first = (Message.created_at.desc(), Message.id.desc())
            sizes = (
                await s.execute(
                    sa.select(Message.created_at, Message.id, sa.func.length(Message.content))
                    .where(*where)
                    .order_by(*newest_first)
                    .limit(limit + 1)
                )
            ).all()
            taken = _take([r[2] for r in sizes[:limit]], chars) if limit else 0
            rows: Sequence[_AnyRow] = ()
            if taken:
                first, last = sizes[0], sizes[taken - 1]
                page = (
                    sa.select(*_MESSAGE_COLUMNS)
                    .where(
                        *where,
                        # the range on the index; the two below settle equal times
                        Message.created_at.between(last.created_at, first.created_at),
                        sa.not_(_older(last.created_at, last.id)),
                        sa.not_(_newer(first.created_at, first.id)),
                    )
                    .order_by(*newest_first)
                    .limit(taken)
                )
                rows = (await s.execute(page)).all()
        messages, cut = _within(rows, budget)
        # A message stored meanwhile inside the page's range can push its oldest out.
        has_more = len(sizes) > taken or cut or bool(rows and rows[-1].id != sizes[taken - 1].id)
        messages.reverse()
        return ConversationDetail(
            conversation=view,
            messages=messages,
            has_more=has_more,
            next_before=messages[0].id if has_more and messages else None,
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
