"""SSE frames of ``/api/chat``: start, queued (place in the model's queue while waiting),
token (``id:`` = chunk seq), done, error.

Frames are built as bytes directly (one msgspec encode per token) rather than through
Litestar's ``ServerSentEvent``, which costs a thread hop before the first frame and a
StringIO per event; the wire format is the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar.response import Stream
from litestar.response.base import ASGIResponse

from chat_api.queue_positions import QueueUpdate
from chat_api.relay import KEEPALIVE_S, KeepAlive, Relay, StreamFailure

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_MEDIA_TYPE = "text/event-stream"
KEEPALIVE_FRAME = b": keep-alive\n\n"
"""An SSE comment: clients ignore it, proxies see traffic."""

_encode = msgspec.json.encode
log = logging.getLogger("chat_api.chat")


class EventStream(Stream):
    """A ``Stream`` of SSE frames that is always ``text/event-stream``: Litestar 2.25 gives
    the route's media type precedence over the response's, and ``/v1/chat/completions``
    answers JSON or a stream from one route."""

    def __init__(self, frames: AsyncIterator[bytes]) -> None:
        super().__init__(frames, media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        kwargs["media_type"] = SSE_MEDIA_TYPE
        return super().to_asgi_response(*args, **kwargs)


class Start(msgspec.Struct, kw_only=True):
    request_id: str
    model: str


class UsageOut(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Done(msgspec.Struct, kw_only=True, omit_defaults=True):
    finish_reason: str
    usage: UsageOut | None
    timeline: dict[str, float] | None = None
    """The first token's stages in ms, when the api exposes them (``API_EXPOSE_TIMELINE``)."""


class ErrorOut(msgspec.Struct, kw_only=True):
    code: str
    message: str


def error_frame(code: str, message: str) -> bytes:
    return b"event: error\ndata: " + _encode(ErrorOut(code=code, message=message)) + b"\n\n"


async def chat_frames(relay: Relay) -> AsyncIterator[bytes]:
    request = relay.request
    unwritten = relay.stamps  # until the first token frame is out
    yield (
        b"event: start\ndata: "
        + _encode(Start(request_id=request.request_id, model=request.model))
        + b"\n\n"
    )
    try:
        async for item in relay.events(KEEPALIVE_S):
            if isinstance(item, KeepAlive):
                yield KEEPALIVE_FRAME
                continue
            if isinstance(item, QueueUpdate):
                yield b"event: queued\ndata: " + _encode(item) + b"\n\n"
                continue
            if isinstance(item, StreamFailure):
                yield error_frame(item.code, item.message)
                return
            if item.text:
                yield b'id: %d\nevent: token\ndata: {"text":%b}\n\n' % (
                    item.seq,
                    _encode(item.text),
                )
                if unwritten is not None:
                    unwritten.first_token_written = time.time_ns()
                    unwritten = None
            if item.finish_reason is not None:
                usage = item.usage
                yield (
                    b"event: done\ndata: "
                    + _encode(
                        Done(
                            finish_reason=item.finish_reason,
                            usage=None
                            if usage is None
                            else UsageOut(
                                prompt_tokens=usage.prompt_tokens,
                                completion_tokens=usage.completion_tokens,
                                total_tokens=usage.total_tokens,
                            ),
                            timeline=relay.end_timeline(),
                        )
                    )
                    + b"\n\n"
                )
                return
    except Exception:
        log.exception("request %s: relay failed", request.request_id)
        relay.close()
        yield error_frame("internal_error", "internal error")
