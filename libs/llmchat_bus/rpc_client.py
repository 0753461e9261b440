"""The request-reply client: the caller's side of ``rpc`` (core NATS request, ``Reply[T]``).

``RpcClient.call`` sends one request Struct and returns the ``ok`` of the reply, typed as
the caller asks. It fails in exactly two ways:

- ``RpcNoAnswer``: no usable answer came (timeout, no responders, the connection closed
  or draining, a reply that is not a ``Reply[T]``, or one with neither ``ok`` nor
  ``error``). Logged here, once, with the subject and the cause; the service is as good
  as down, and the caller decides what that means for its own users.
- ``RpcRefused``: the service answered ``error=RpcError(code, message)``; the wire code
  and message are passed through untouched (not logged: a refusal is an answer).

With ``propagate_trace`` the current trace context goes in the request's headers, so the
service's span joins the caller's trace.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, TypeVar

import msgspec
from nats.aio.client import Client as NatsClient

from contracts.codec import encode
from contracts.rpc import Reply
from contracts.tracing import inject_trace_context

log = logging.getLogger(__name__)

T = TypeVar("T")


class NoAnswerReason(enum.Enum):
    UNREACHABLE = "unreachable"
    """Timeout, no responders, connection closed or draining."""
    UNREADABLE = "unreadable"
    """The reply is not a ``Reply`` of the expected result type."""
    EMPTY = "empty"
    """The reply has neither ``ok`` nor ``error``."""


class RpcCallError(Exception):
    """A request to ``callee`` on ``subject`` that did not give a result."""

    def __init__(self, callee: str, subject: str, detail: str) -> None:
        super().__init__(f"{callee} on {subject}: {detail}")
        self.callee = callee
        self.subject = subject


class RpcNoAnswer(RpcCallError):
    """The callee gave no usable answer; ``cause`` says what happened instead."""

    def __init__(self, callee: str, subject: str, reason: NoAnswerReason, cause: str) -> None:
        super().__init__(callee, subject, f"no answer ({reason.value}): {cause}")
        self.reason = reason
        self.cause = cause


class RpcRefused(RpcCallError):
    """The callee answered with an error: its wire ``code`` (an ``ErrorCode`` value) and
    ``message``."""

    def __init__(self, callee: str, subject: str, code: str, message: str) -> None:
        super().__init__(callee, subject, f"refused ({code}): {message}")
        self.code = code
        self.message = message


_REPLY_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
"""One decoder of ``Reply[T]`` per result type, made on first use (a decoder is costly to
build and cheap to reuse)."""


def reply_decoder(result_type: type[T]) -> msgspec.json.Decoder[Reply[T]]:
    decoder = _REPLY_DECODERS.get(result_type)
    if decoder is None:
        decoder = _REPLY_DECODERS[result_type] = msgspec.json.Decoder(Reply[result_type])  # type: ignore[valid-type]
    return decoder


class RpcClient:
    """Requests to one service (``callee`` names it in logs and errors)."""

    def __init__(
        self,
        nc: NatsClient,
        callee: str,
        timeout_s: float,
        *,
        propagate_trace: bool = False,
        unreachable_log_level: int = logging.WARNING,
    ) -> None:
        self.nc = nc
        self.callee = callee
        self.timeout_s = timeout_s
        """How long a request waits for its reply unless the call says otherwise."""
        self.propagate_trace = propagate_trace
        """Put the current trace context on each request (tracing on)."""
        self.unreachable_log_level = unreachable_log_level
        """Lower it for a callee whose absence is normal (the caller copes and says so)."""

    async def call(
        self,
        subject: str,
        request: msgspec.Struct,
        result_type: type[T],
        timeout_s: float | None = None,
    ) -> T:
        """The ``ok`` of the reply; raises ``RpcNoAnswer`` or ``RpcRefused``."""
        headers: dict[str, str] = {}
        if self.propagate_trace:
            inject_trace_context(headers)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            msg = await self.nc.request(
                subject, encode(request), timeout=timeout, headers=headers or None
            )
        except Exception as exc:  # timeout, no responders, connection closed / draining
            raise self._no_answer(
                subject, NoAnswerReason.UNREACHABLE, f"{type(exc).__name__}: {exc}"
            ) from exc
        try:
            reply = reply_decoder(result_type).decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise self._no_answer(subject, NoAnswerReason.UNREADABLE, str(exc)) from exc
        if reply.error is not None:
            raise RpcRefused(self.callee, subject, reply.error.code, reply.error.message)
        if reply.ok is None:
            raise self._no_answer(subject, NoAnswerReason.EMPTY, "neither ok nor error")
        return reply.ok

    def _no_answer(self, subject: str, reason: NoAnswerReason, cause: str) -> RpcNoAnswer:
        # An unreadable or empty reply is a contract bug, never routine: always an error.
        level = (
            self.unreachable_log_level if reason is NoAnswerReason.UNREACHABLE else logging.ERROR
        )
        log.log(
            level, "%s request on %s: no answer (%s): %s", self.callee, subject, reason.value, cause
        )
        return RpcNoAnswer(self.callee, subject, reason, cause)
