"""Starting chats: the checks every chat route shares, then request -> bus -> relay.

``ChatSpec`` is the route-independent form of a chat (``/api/chat`` and
``/v1/chat/completions`` both build one); ``ChatService.start`` validates it against the
settings and the live workers, publishes the ``ChatRequest`` and returns the ``Relay``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import msgspec
from opentelemetry import trace

from chat_api.auth import AuthUser
from chat_api.bus import GatewayUnavailable
from chat_api.chat.banned_words import BannedWords
from chat_api.chat.defaults import (
    apply_profile_sampling,
    compose_messages,
    compose_model,
    compose_sampling,
    history_request,
    new_user_message,
)
from chat_api.chat.titles import TitleWriter
from chat_api.errors import ApiError
from chat_api.gateway import Gateway
from chat_api.limits.admission import ChatAdmission
from chat_api.limits.limiter import Ticket
from chat_api.models.routing import ModelRouter, whitelist_route
from chat_api.persistence_client import Persistence, unavailable
from chat_api.relay import Relay, StreamTable
from chat_api.request_log import note_chat
from chat_api.settings import ApiSettings
from chat_api.telemetry import ApiMetrics
from chat_api.telemetry.timeline import ApiStamps
from contracts.accounts import UserSettings
from contracts.conversations import ConversationDetail
from contracts.errors import ErrorCode
from contracts.inference import (
    CancelChat,
    ChatMessage,
    ChatRequest,
    Chunk,
    SamplingParams,
    StreamError,
    TokenChunk,
)
from llmchat_bus.tracing import gen_ai_request_attributes

RETRY_AFTER_S = "5"


def retry_later(code: ErrorCode, message: str) -> ApiError:
    """A 503 the client should retry after ``RETRY_AFTER_S``."""
    return ApiError(503, code, message, headers={"Retry-After": RETRY_AFTER_S})


SHUTTING_DOWN_MESSAGE = "the api is shutting down; retry"


@dataclass(frozen=True, kw_only=True)
class ChatSpec:
    messages: tuple[ChatMessage, ...]
    model: str | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    timeout_s: float | None = None
    conversation_id: str | None = None


class UserDefaults(Protocol):
    """Per-user chat defaults (``UserSettingsService`` implements it, cached)."""

    async def for_user(self, user_id: str) -> UserSettings: ...


def resolve_model(settings: ApiSettings, model: str | None) -> str:
    """The ``MODELS`` whitelist alone (``ModelRouter`` adds model-admin's names)."""
    return whitelist_route(settings, model or settings.default_model).group


def check_limits(settings: ApiSettings, spec: ChatSpec) -> None:
    """Limits that depend on settings (static ranges are checked by the schemas)."""
    if not spec.messages:
        raise ApiError(
            400, ErrorCode.INVALID_REQUEST, "messages must not be empty", param="messages"
        )
    if len(spec.messages) > settings.max_messages:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"at most {settings.max_messages} messages are allowed",
            param="messages",
        )
    # Stop strings are input too: the engine matches them against every step's text.
    chars = sum(len(m.content) for m in spec.messages) + sum(map(len, spec.sampling.stop))
    if chars > settings.max_input_chars:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"input (messages and stop strings) is {chars} characters; "
            f"the limit is {settings.max_input_chars}",
            param="messages",
        )
    max_tokens = spec.sampling.max_tokens
    if max_tokens is not None and max_tokens > settings.max_tokens_limit:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"max_tokens must be at most {settings.max_tokens_limit}",
            param="max_tokens",
        )
    if spec.timeout_s is not None and spec.timeout_s > settings.request_timeout_s:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"timeout_s must be at most {settings.request_timeout_s:g}",
            param="timeout_s",
        )


def build_request(
    settings: ApiSettings, spec: ChatSpec, user: AuthUser, request_id: str, model: str, now: float
) -> ChatRequest:
    timeout_s = spec.timeout_s if spec.timeout_s is not None else settings.request_timeout_s
    return ChatRequest(
        request_id=request_id,
        user_id=user.id,
        model=model,
        messages=spec.messages,
        sampling=spec.sampling,
        deadline=now + timeout_s,
        created_at=now,
        conversation_id=spec.conversation_id,
        api_key_id=user.key_id,
    )


def resume_backlog(captured: list[Chunk], after_seq: int) -> list[Chunk] | None:
    """What a client that saw chunks up to ``after_seq`` still needs of the captured
    ones (in seq order), or None if the capture lost some of them (expired). A client
    that saw the last token (but maybe not the end) gets the end again without text."""
    tokens = [c for c in captured if c.seq > 0]  # seq 0: the worker's StreamStarted
    if tokens and tokens[0].seq > max(after_seq + 1, 1):
        return None
    wanted = [c for c in captured if c.seq > after_seq]
    last = captured[-1] if captured else None
    if not wanted and last is not None and _is_final(last):
        if isinstance(last, TokenChunk):
            return [msgspec.structs.replace(last, seq=after_seq + 1, text="")]
        return [msgspec.structs.replace(last, seq=after_seq + 1)]
    return wanted


def _is_final(chunk: Chunk) -> bool:
    return isinstance(chunk, StreamError) or (
        isinstance(chunk, TokenChunk) and chunk.finish_reason is not None
    )


def _closing(streams: StreamTable, ticket: Ticket | None) -> Callable[[Relay], None]:
    """The relay's ``on_close``: leave the stream table, settle the chat's limits."""
    if ticket is None:
        return streams.remove

    def close(relay: Relay) -> None:
        streams.remove(relay)
        ticket.settle(relay.usage, relay.chunks_relayed)

    return close


class ChatService:
    """Starts chats. With ``persistence`` it applies the user's defaults and continues
    saved conversations (naming new ones through ``titles``); without it (unit apps) a chat
    is exactly what the request says."""

    def __init__(
        self,
        settings: ApiSettings,
        gateway: Gateway,
        streams: StreamTable,
        persistence: Persistence | None = None,
        user_defaults: UserDefaults | None = None,
        titles: TitleWriter | None = None,
        admission: ChatAdmission | None = None,
        router: ModelRouter | None = None,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.streams = streams
        self.persistence = persistence
        self.user_defaults = user_defaults
        self.titles = titles
        self.admission = admission or ChatAdmission.from_settings(settings)
        """Queue bound and rate limits (default: in-process limits, no queue bound)."""
        self.banned_words = BannedWords(settings.banned_words)
        self.router = router or ModelRouter(settings)
        """Model name -> worker group (default: the ``MODELS`` whitelist only)."""
        self.metrics: ApiMetrics | None = None
        """Set by the app when metrics are on: each chat gets a ``StreamObserver``."""

    async def start(
        self,
        user: AuthUser,
        spec: ChatSpec,
        request_id: str,
        detach_grace_s: float = 0.0,
        queue_updates: bool = False,
        arrived_ns: int | None = None,
    ) -> Relay:
        """Publish the chat and return its relay. ``detach_grace_s`` > 0: a client that
        goes away detaches the generation for that long instead of cancelling it;
        ``queue_updates``: the relay says the chat's place in the queue while it waits;
        ``arrived_ns``: when the HTTP request arrived (its first token's stages start
        there; None: here)."""
        now_ns = time.time_ns()
        stamps = ApiStamps(arrived_ns or now_ns, now_ns)
        started = time.monotonic()
        if not self.streams.accepting:
            raise retry_later(ErrorCode.SHUTTING_DOWN, SHUTTING_DOWN_MESSAGE)
        self.admission.check_load()
        self.banned_words.check(spec.messages, spec.sampling.stop)
        defaults = (
            await self.user_defaults.for_user(user.id) if self.user_defaults is not None else None
        )
        detail = await self._conversation(user, spec.conversation_id, spec.messages)
        spec = replace(
            spec,
            messages=compose_messages(self.settings, spec.messages, defaults, detail),
            model=compose_model(self.settings, spec.model, defaults),
            sampling=compose_sampling(spec.sampling, defaults),
        )
        route = await self.router.route(spec.model)
        model = route.group
        if route.sampling is not None:
            spec = replace(
                spec,
                sampling=apply_profile_sampling(
                    spec.sampling, route.sampling, self.settings.max_tokens_limit
                ),
            )
        check_limits(self.settings, spec)
        if not self.gateway.workers.accepts(model):
            raise retry_later(
                ErrorCode.MODEL_UNAVAILABLE, f"no live worker serves model {model!r}; retry later"
            )
        request = build_request(self.settings, spec, user, request_id, model, time.time())
        span = trace.get_current_span()  # the HTTP request's (tracing on)
        if span.is_recording():
            span.set_attributes(gen_ai_request_attributes(request))
        ticket = await self.admission.admit(user, request)
        stamps.publishing = time.time_ns()
        try:
            feed = await self.gateway.open(request, queue_updates)
        except GatewayUnavailable as exc:
            if ticket is not None:
                ticket.forget()
            # The bus, not the model: service_unavailable (model_unavailable means no worker).
            raise retry_later(ErrorCode.SERVICE_UNAVAILABLE, str(exc)) from exc
        stamps.queued = time.time_ns()
        relay = Relay(
            self.gateway,
            request,
            feed,
            on_close=_closing(self.streams, ticket),
            observer=None
            if self.metrics is None
            else self.metrics.stream(model, user.role, started),
            detach_grace_s=detach_grace_s,
            stamps=stamps,
            expose_timeline=self.settings.expose_timeline,
        )
        if detail is not None and self._wants_title(detail):
            titles = self.titles
            assert titles is not None
            conversation_id = detail.conversation.id
            message = new_user_message(request.messages)
            relay.on_done = lambda: titles.schedule(user, conversation_id, model, message)
        self.streams.add(relay)
        note_chat(relay)
        return relay

    async def _conversation(
        self, user: AuthUser, conversation_id: str | None, messages: tuple[ChatMessage, ...]
    ) -> ConversationDetail | None:
        """The caller's conversation (404 if it is not theirs) with the recent history the
        chat can use, or None for a plain chat."""
        if conversation_id is None:
            return None
        if self.persistence is None:
            raise unavailable("conversations are not available")
        return await self.persistence.get_conversation(
            history_request(self.settings, user.id, conversation_id, messages)
        )

    def _wants_title(self, detail: ConversationDetail) -> bool:
        return (
            self.titles is not None
            and self.settings.auto_title
            and not detail.conversation.title.strip()
            and detail.conversation.message_count == 0  # the page holds history only
        )

    async def attach(
        self, user: AuthUser, request_id: str, after_seq: int, queue_updates: bool = False
    ) -> Relay:
        """A relay of the user's chat ``request_id`` (an admin: anyone's), accepted by any
        api instance, from the chunk after ``after_seq`` (-1: from the start): what the
        capture holds, then live. 404 unknown or not theirs; 410 ``stream_expired`` when
        the capture no longer holds the chunks (the answer is in the conversation)."""
        if not self.streams.accepting:
            raise retry_later(ErrorCode.SHUTTING_DOWN, SHUTTING_DOWN_MESSAGE)
        try:
            chat = await self.gateway.open_chat(request_id)
        except GatewayUnavailable as exc:
            raise retry_later(ErrorCode.SERVICE_UNAVAILABLE, str(exc)) from exc
        if chat is None or (chat.user_id != user.id and not user.is_admin):
            raise ApiError(404, ErrorCode.NOT_FOUND, f"no chat {request_id!r}")
        try:
            feed = await self.gateway.attach(chat, queue_updates)
        except GatewayUnavailable as exc:
            raise retry_later(ErrorCode.SERVICE_UNAVAILABLE, str(exc)) from exc
        captured = await self.gateway.replay(request_id, -1)
        backlog = resume_backlog(captured, after_seq)
        if backlog is None or (not captured and time.time() > chat.deadline):
            feed.close()
            raise ApiError(
                410,
                ErrorCode.STREAM_EXPIRED,
                "this answer can no longer be streamed; read it from its conversation",
            )
        request = ChatRequest(
            request_id=chat.request_id,
            user_id=chat.user_id,
            model=chat.model,
            messages=(),
            deadline=chat.deadline,
            created_at=chat.created_at,
            conversation_id=chat.conversation_id,
        )
        relay = Relay(
            self.gateway,
            request,
            feed,
            on_close=self.streams.remove,
            owner=False,
            start_seq=after_seq,
            backlog=backlog,
        )
        self.streams.add(relay)
        return relay

    async def running_chat(self, conversation_id: str) -> str | None:
        """The request id of the conversation's chat still running (None: none, or the
        bus does not say). The caller has checked the conversation is the user's."""
        try:
            request_id = await self.gateway.conversation_chat(conversation_id)
            chat = None if request_id is None else await self.gateway.open_chat(request_id)
        except GatewayUnavailable:
            return None
        # An api instance that died mid-answer leaves its keys until their TTL: past the
        # chat's deadline it has certainly ended, and a client following it would only be
        # told it expired (and be sent back here).
        if chat is None or time.time() > chat.deadline:
            return None
        return chat.request_id

    def watched(self, request_id: str) -> None:
        self.streams.watched(request_id)

    async def cancel(self, user: AuthUser, request_id: str) -> bool:
        """Cancel a chat the user started (an admin: any chat), whichever api instance
        relays it. False: no such running chat, or not theirs."""
        request = CancelChat(request_id=request_id, user_id=user.id, admin=user.is_admin)
        outcome = self.cancel_relayed_here(request)
        if outcome is not None:
            return outcome
        return await self.gateway.cancel_elsewhere(request)

    def cancel_relayed_here(self, request: CancelChat) -> bool | None:
        """True cancelled, False not the user's, None this instance does not relay it."""
        relay = self.streams.get(request.request_id)
        if relay is None:
            return None
        if relay.request.user_id != request.user_id and not request.admin:
            return False
        relay.cancel("client_cancelled")
        return True
