"""Schemas of the inference path: chat request, token chunks and cancel.

Flow: api publishes ``ChatRequest`` on ``request_subject(model)`` (JetStream);
the worker that takes it publishes ``Chunk`` values on ``chunk_subject(request_id)``
(core NATS, captured by a short-retention stream for replay); the api may publish
``CancelRequest`` on ``cancel_subject(request_id)``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from contracts.subjects import SCHEMA_VERSION

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "timeout", "error"]
CancelReason = Literal["client_disconnected", "client_cancelled", "timeout", "shutdown"]
DIRECT_RELAY = "direct"
"""The relay of a request nobody relays under an id of its own: its chunks are followed by
request id alone (``subjects.request_chunk_subjects``)."""


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    content: str


class SamplingParams(msgspec.Struct, frozen=True, kw_only=True):
    """Sampling settings; ``None`` means "the model profile's default"."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One chat completion to generate. ``deadline`` is a UNIX time in seconds:
    past it the worker stops generating and reports ``timeout``."""

    request_id: str
    user_id: str
    model: str
    messages: tuple[ChatMessage, ...]
    sampling: SamplingParams = SamplingParams()
    deadline: float
    created_at: float
    conversation_id: str | None = None
    """Set when the chat continues a saved conversation; carried into the events."""
    api_key_id: str | None = None
    """The API key the caller used (None: a JWT); the api copies it into ``RequestAccepted``."""
    relay: str = DIRECT_RELAY
    """Whose chunk subject the worker streams on (``subjects.chunk_subject(relay, id)``):
    the api instance that publishes the request sets its own id."""
    v: int = SCHEMA_VERSION


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class StreamStarted(msgspec.Struct, frozen=True, kw_only=True, tag="started"):
    """First message of every stream: a worker owns the request now."""

    seq: int
    worker_id: str
    model: str
    prompt_tokens: int


class WorkerTimeline(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """When the worker did each step of one request up to its first token, in
    ``time.time_ns()``: the wall clock, so the api can set them beside its own stamps (the
    gaps between the two processes are exact only where their clocks agree, as on one
    host). 0: the step did not happen."""

    fetched: int
    """The request came out of the worker's fetch from the request consumer."""
    acked: int
    """JetStream confirmed the ack: the request is this worker's."""
    prompt_built: int
    """The chat template rendered and tokenized."""
    engine_submitted: int
    """Handed to the engine."""
    first_output: int
    """The engine's first delta reached the worker's loop."""
    first_chunk_sent: int
    """The first token chunk was handed to the NATS client."""


class TokenChunk(msgspec.Struct, frozen=True, kw_only=True, tag="token"):
    """A text delta. The last chunk of a stream has ``finish_reason`` and ``usage``, and
    the worker's ``timeline`` of the request.

    ``token_ids`` are the ids behind ``text`` so a generation can be continued
    exactly elsewhere (prompt ids + ids so far)."""

    seq: int
    text: str
    token_ids: tuple[int, ...] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    timeline: WorkerTimeline | None = None


class StreamError(msgspec.Struct, frozen=True, kw_only=True, tag="error"):
    """Terminal failure of a stream; ``code`` is an ``ErrorCode`` value."""

    seq: int
    code: str
    message: str
    usage: Usage | None = None


Chunk = StreamStarted | TokenChunk | StreamError


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True):
    request_id: str
    reason: CancelReason
    v: int = SCHEMA_VERSION


class OpenChat(msgspec.Struct, frozen=True, kw_only=True):
    """Value of ``open_chat_key(request_id)`` in ``OPEN_CHATS_BUCKET``, written by the api
    that accepted the chat: whose it is and until when it can run, so any api instance can
    let its owner re-attach to the answer (``GET /api/chat/{id}/events``)."""

    request_id: str
    user_id: str
    model: str
    deadline: float
    created_at: float
    conversation_id: str | None = None
    queue_seq: int | None = None
    """The request's sequence in ``REQUESTS_STREAM``, written once it has waited for a
    worker (a client re-attaching while it waits is told its place in the queue too)."""
    v: int = SCHEMA_VERSION


class RelayWatch(msgspec.Struct, frozen=True, kw_only=True):
    """On ``relay_watch_subject(request_id)``: a client is re-attached to this chat (sent
    when it attaches and then every ``RELAY_WATCH_INTERVAL_S``), so the api instance that
    accepted it keeps a detached generation running past its grace period."""

    request_id: str
    v: int = SCHEMA_VERSION


class CancelChat(msgspec.Struct, frozen=True, kw_only=True):
    """On ``relay_cancel_subject(request_id)``: a user asks (through any api instance) to
    cancel a chat. The instance relaying it checks that the user started it (or is an
    admin) and answers ``Reply[Ack]``, or ``not_found``; the others stay silent."""

    request_id: str
    user_id: str
    admin: bool = False
    v: int = SCHEMA_VERSION
