"""``chat.completion.chunk`` SSE frames, ending with ``data: [DONE]``.

Each token frame is a prebuilt prefix + the JSON-encoded text + a prebuilt suffix, so the
per-chunk work is one string encode. With ``API_EXPOSE_TIMELINE`` the finish frame also
has ``timeline``: the first token's stages in milliseconds (``telemetry.timeline``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import msgspec

from chat_api.chat.sse import KEEPALIVE_FRAME
from chat_api.queue_positions import QueueUpdate
from chat_api.relay import KEEPALIVE_S, KeepAlive, Relay, StreamFailure
from chat_api.v1.schemas import CompletionUsage

log = logging.getLogger("chat_api.v1")
_encode = msgspec.json.encode
DONE = b"data: [DONE]\n\n"


class _ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str
    type: str
    param: None = None
    request_id: str


class _ErrorFrame(msgspec.Struct, kw_only=True):
    error: _ErrorDetail


def completion_id(request_id: str) -> str:
    return f"chatcmpl-{request_id}"


def error_frame(code: str, message: str, request_id: str) -> bytes:
    error = _ErrorFrame(
        error=_ErrorDetail(code=code, message=message, type="server_error", request_id=request_id)
    )
    return b"data: " + _encode(error) + b"\n\n"


async def completion_frames(
    relay: Relay,
    created: int,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    request = relay.request
    unwritten = relay.stamps  # until the first token frame is out
    head = (
        b'data: {"id":'
        + _encode(completion_id(request.request_id))
        + b',"object":"chat.completion.chunk","created":%d,"model":' % created
        + _encode(request.model)
        + b',"choices":['
    )
    tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
    token_head = head + b'{"index":0,"delta":{"content":'
    token_tail = b'},"logprobs":null,"finish_reason":null}]' + tail
    yield (
        head
        + (
            b'{"index":0,"delta":{"role":"assistant","content":""},'
            b'"logprobs":null,"finish_reason":null}]'
        )
        + tail
    )
    try:
        async for item in relay.events(KEEPALIVE_S):
            if isinstance(item, KeepAlive):
                yield KEEPALIVE_FRAME
                continue
            if isinstance(item, QueueUpdate):
                continue  # OpenAI's stream has no such frame (and /v1 asks for none)
            if isinstance(item, StreamFailure):
                yield error_frame(item.code, item.message, request.request_id)
                return
            if item.text:
                yield token_head + _encode(item.text) + token_tail
                if unwritten is not None:
                    unwritten.first_token_written = time.time_ns()
                    unwritten = None
            if item.finish_reason is not None:
                stages = relay.end_timeline()
                finish_tail = tail if stages is None else b',"timeline":' + _encode(stages) + tail
                yield (
                    head
                    + b'{"index":0,"delta":{},"logprobs":null,"finish_reason":'
                    + _encode(item.finish_reason)
                    + b"}]"
                    + finish_tail
                )
                if include_usage:
                    usage = item.usage
                    body = (
                        b"null"
                        if usage is None
                        else _encode(
                            CompletionUsage(
                                prompt_tokens=usage.prompt_tokens,
                                completion_tokens=usage.completion_tokens,
                                total_tokens=usage.total_tokens,
                            )
                        )
                    )
                    yield head + b'],"usage":' + body + b"}\n\n"
                yield DONE
                return
    except Exception:
        log.exception("request %s: relay failed", request.request_id)
        relay.close()
        yield error_frame("internal_error", "internal error", request.request_id)
