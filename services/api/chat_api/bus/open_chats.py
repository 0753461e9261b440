"""The ``OpenChat`` records in the KV bucket ``open_chats``: written by the instance that
accepts a request, read by any instance a client re-attaches to; plus each conversation's
running chat, forgotten when its stream ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from chat_api.bus import GatewayUnavailable
from contracts import codec, subjects
from contracts.inference import ChatRequest, OpenChat

log = logging.getLogger("chat_api.bus.open_chats")


class OpenChatRecords:
    def __init__(self) -> None:
        self._bucket: KeyValue | None = None

    async def start(self, js: JetStreamContext) -> None:
        self._bucket = await js.key_value(subjects.OPEN_CHATS_BUCKET)

    async def record(self, request: ChatRequest, queue_seq: int | None = None) -> None:
        """Write the request's ``OpenChat`` (and its conversation's running chat). A chat
        goes on without it: only a later re-attach would miss it. Written again with
        ``queue_seq`` once the request has waited for a worker."""
        if self._bucket is None:
            return
        chat = OpenChat(
            request_id=request.request_id,
            user_id=request.user_id,
            model=request.model,
            deadline=request.deadline,
            created_at=request.created_at,
            conversation_id=request.conversation_id,
            queue_seq=queue_seq,
        )
        writes = [self._bucket.put(subjects.open_chat_key(request.request_id), codec.encode(chat))]
        if request.conversation_id is not None and queue_seq is None:
            key = subjects.conversation_chat_key(request.conversation_id)
            writes.append(self._bucket.put(key, request.request_id.encode()))
        # Both at once: they are on the way to the first token.
        results = await asyncio.gather(*writes, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):  # the chat goes on without it
                log.warning("request %s: open chat not recorded: %r", request.request_id, result)
            elif isinstance(result, BaseException):
                raise result

    async def open_chat(self, request_id: str) -> OpenChat | None:
        value = await self._get(subjects.open_chat_key(request_id))
        if value is None:
            return None
        try:
            return codec.decode_open_chat(value)
        except codec.DecodeErrors as exc:
            log.warning("bad open chat %s: %s", request_id, exc)
            return None

    async def conversation_chat(self, conversation_id: str) -> str | None:
        value = await self._get(subjects.conversation_chat_key(conversation_id))
        return value.decode() if value else None

    async def forget_conversation_chat(self, request: ChatRequest) -> None:
        """The request's conversation has no running chat any more (unless a newer one)."""
        if request.conversation_id is None or self._bucket is None:
            return
        key = subjects.conversation_chat_key(request.conversation_id)
        with contextlib.suppress(KeyNotFoundError):
            entry = await self._bucket.get(key)
            # A newer chat of the conversation owns the key now: leave it.
            if entry.value == request.request_id.encode():
                await self._bucket.delete(key, last=entry.revision)

    async def _get(self, key: str) -> bytes | None:
        if self._bucket is None:
            raise GatewayUnavailable("open chats are not available")
        try:
            entry = await self._bucket.get(key)
        except KeyNotFoundError:
            return None
        except Exception as exc:
            raise GatewayUnavailable(f"open chats unreachable: {exc}") from exc
        return entry.value
