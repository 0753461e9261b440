"""The request log: one structured line per HTTP request, written when its response has
been sent (for a stream: when the stream ends).

Fields: ``request_id``, ``user_id``, ``api_key_id``, ``method``, ``route``,
``status_code``, ``latency_ms``; a chat adds the plan's ``model``, ``ctx_len``
(characters of every message the model got: system prompt, history, new turns),
``input_tokens``, ``output_tokens`` (the model's usage; absent when the stream ended
without it), ``ttft_ms`` and ``outcome`` (``stop`` / ``length`` or the error code the
client saw; a stream always answers HTTP 200, so this is where its failure shows).

The chat is handed over through a context variable set for the request's task (the
streaming response runs in a child task, which shares the same record), so no handler
or service has to know about logging: ``ChatService`` calls ``note_chat(relay)``.

The text of messages is never logged, except the last user message of a sampled share
of chats (``LOG_SAMPLE_MESSAGES`` = 0..1), masked like every other log field.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from chat_api.errors import request_id_of
from chat_api.http_exchange import note_arrival, note_response_status, response_status

if TYPE_CHECKING:
    from chat_api.relay import Relay

log = logging.getLogger("chat_api.requests")

SAMPLE_CHARS = 2000
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: logged at DEBUG."""


@dataclass
class _Record:
    relay: Relay | None = None


_CURRENT: ContextVar[_Record | None] = ContextVar("chat_api_request_record", default=None)


def note_chat(relay: Relay) -> None:
    """Attach the chat being served to the current request's log line."""
    record = _CURRENT.get()
    if record is not None:
        record.relay = relay


def chat_fields(relay: Relay, sample_rate: float, draw: Callable[[], float]) -> dict[str, Any]:
    request = relay.request
    fields: dict[str, Any] = {
        "model": request.model,
        "ctx_len": sum(len(m.content) for m in request.messages),
        "outcome": relay.outcome or "disconnected",
    }
    usage = relay.usage
    if usage is not None:
        fields["input_tokens"] = usage.prompt_tokens
        fields["output_tokens"] = usage.completion_tokens
    if relay.first_token_at is not None:
        fields["ttft_ms"] = round((relay.first_token_at - relay.started_at) * 1000.0, 1)
    if sample_rate > 0 and draw() < sample_rate:
        users = [m.content for m in request.messages if m.role == "user"]
        if users:
            fields["sampled_message"] = users[-1][:SAMPLE_CHARS]  # masked by the log filter
    return fields


class RequestLogMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        sample_rate: float = 0.0,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.app = app
        self.sample_rate = sample_rate
        self.draw = draw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        note_arrival(scope)
        record = _Record()
        token = _CURRENT.set(record)
        failure: BaseException | None = None

        # The one wrapper of ``send`` of the middlewares that report the status (the
        # telemetry middleware inside reads it too): a wrapper costs a call per chunk.
        async def status_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                note_response_status(scope, message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, status_send)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            _CURRENT.reset(token)
            status = response_status(scope, failure)
            self._write(scope, record, status, time.perf_counter() - started)

    def _write(self, scope: HTTPScope, record: _Record, status: int, elapsed_s: float) -> None:
        route: str = scope.get("path_template") or scope["path"]
        if route in QUIET_ROUTES:
            # A probe's 503 (/readyz while the engine loads or swaps) is its answer, not a
            # fault: a launcher or kubelet polling it would fill the log with warnings.
            level = logging.DEBUG
        else:
            level = logging.WARNING if status >= 500 else logging.INFO
        if not log.isEnabledFor(level):
            return
        user = scope.get("user")
        fields: dict[str, Any] = {
            "request_id": request_id_of(scope),
            "user_id": getattr(user, "id", None),
            "api_key_id": getattr(user, "key_id", None),
            "method": scope["method"],
            "route": route,
            "status_code": status,
            "latency_ms": round(elapsed_s * 1000.0, 1),
        }
        if record.relay is not None:
            fields.update(chat_fields(record.relay, self.sample_rate, self.draw))
        log.log(level, "%s %s %d", scope["method"], route, status, extra=fields)
