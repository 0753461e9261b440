"""Conversation messages from lifecycle events, stored idempotently.

``INSERT ... ON CONFLICT (request_id, role) DO NOTHING``: a redelivered event stores
nothing twice. What each event stores (only when it names a ``conversation_id``):

- ``RequestAccepted``: the user message (``user_message``; nothing if it is None).
- ``RequestCompleted``: the assistant message, status ``complete``, with token counts.
- ``RequestCancelled``: the assistant message with the text so far (possibly empty),
  status ``cancelled``.
- ``RequestFailed``: the assistant message with the text so far (usually empty), status
  ``failed``, so a reader sees the request failed; the api leaves failed (and empty)
  messages out of the history it sends to a model.

Each stored message moves the conversation's ``updated_at`` forward (never back). A
conversation that does not exist, or that belongs to another user, stores nothing.
"""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from contracts.events import (
    ChatEvent,
    RequestAccepted,
    RequestCancelled,
    RequestCompleted,
    RequestFailed,
)
from llmchat_sql.database import Database
from persistence.models import Conversation, Message

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    NO_CONVERSATION = "no_conversation"
    IGNORED = "ignored"


def _row(event: ChatEvent) -> dict[str, object] | None:
    """The message an event stores, or None."""
    base: dict[str, object] = {"request_id": event.request_id, "created_at": event.at}
    match event:
        case RequestAccepted(user_message=None):
            return None
        case RequestAccepted(user_message=str(text)):
            return base | {"role": "user", "content": text, "status": "complete"}
        case RequestCompleted(usage=usage, text=text):
            return base | {
                "role": "assistant",
                "content": text,
                "status": "complete",
                "token_in": usage.prompt_tokens,
                "token_out": usage.completion_tokens,
            }
        case RequestCancelled(usage=usage, text=text) | RequestFailed(usage=usage, text=text):
            return base | {
                "role": "assistant",
                "content": text,
                "status": "cancelled" if isinstance(event, RequestCancelled) else "failed",
                "token_in": usage.prompt_tokens if usage else None,
                "token_out": usage.completion_tokens if usage else None,
            }
    return None


class MessageRecorder:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, event: ChatEvent) -> Outcome:
        """Store what ``event`` carries for its conversation. Database errors propagate
        (the caller retries: nothing is acknowledged before it is stored)."""
        if event.conversation_id is None:
            return Outcome.IGNORED
        row = _row(event)
        if row is None:
            return Outcome.IGNORED
        table = Message.__table__
        assert isinstance(table, sa.Table)
        insert = (
            self._db.insert(table)
            .values(id=uuid.uuid4().hex, conv_id=event.conversation_id, **row)
            .on_conflict_do_nothing(index_elements=["request_id", "role"])
        )
        try:
            async with self._db.write() as s:
                owner = await s.scalar(
                    sa.select(Conversation.user_id).where(Conversation.id == event.conversation_id)
                )
                if owner is None:
                    return Outcome.NO_CONVERSATION
                if owner != event.user_id:
                    log.warning(
                        "event %s of user %s names conversation %s of another user; skipped",
                        event.request_id,
                        event.user_id,
                        event.conversation_id,
                    )
                    return Outcome.NO_CONVERSATION
                result = await s.execute(insert)
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    return Outcome.DUPLICATE
                later = sa.func.max if self._db.is_sqlite else sa.func.greatest
                await s.execute(
                    sa.update(Conversation)
                    .where(Conversation.id == event.conversation_id)
                    .values(updated_at=later(Conversation.updated_at, event.at))
                )
        except IntegrityError:  # deleted between the check and the insert
            return Outcome.NO_CONVERSATION
        return Outcome.STORED
