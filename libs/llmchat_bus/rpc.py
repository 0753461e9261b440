"""The request-reply server: one FastStream ``NatsBroker`` per service process, one core
NATS subscriber per ``Route`` (subject) in the service's queue group.

A route decodes the request Struct, calls one domain function and replies
``Reply(ok=...)`` or ``Reply(error=RpcError(code, message))``. A malformed payload is
``invalid_request``; a ``RequestRefused`` carries its own code; an exception the service
calls an outage (``unavailable``) is ``service_unavailable``; anything else is
``internal_error`` (logged). A handler never raises into the service. Each request runs in
its own task (at most ``concurrency`` at once across the service's subjects), so one slow
request does not hold up the others on its subject.

A reply larger than the connection's max payload (headers included) cannot be sent: the
caller would wait for its timeout and see an outage. Such a reply is replaced by a small
``reply_too_large`` error (logged, counted as that outcome), so the caller fails at once.

The broker is the service's ``ServiceBroker`` (``llmchat_bus.broker``), attached to the
connection the service already has; the server starts and stops only its own subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from contracts.codec import DecodeErrors, encode
from contracts.errors import ErrorCode
from contracts.rpc import Ack, Ping, Reply, RpcError
from llmchat_bus.broker import ServiceBroker, the_message
from llmchat_bus.bus_metrics import bus_metrics
from llmchat_bus.tracing import ServiceTracing, messaging_attributes, rpc_middlewares

log = logging.getLogger(__name__)

OK = "ok"
"""The outcome of a request answered ``Reply(ok=...)`` (otherwise: the error code)."""


class RequestRefused(Exception):
    """A refusal the caller should see, carrying a wire ``ErrorCode``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Route:
    subject: str
    decode: Callable[[bytes], Any]
    handle: Callable[[Any], Awaitable[msgspec.Struct]]
    request: type[msgspec.Struct] | None = None
    """The request Struct ``decode`` reads (for the AsyncAPI document)."""


def route(subject: str, request: type[msgspec.Struct], handle: Callable[[Any], Any]) -> Route:
    return Route(subject, msgspec.json.Decoder(request).decode, handle, request)


def ping_route(subject: str, check: Callable[[], Awaitable[None]] | None = None) -> Route:
    """Answers ``Ping`` with ``Ack`` once ``check`` (say, a database round trip) passes;
    an exception of ``check`` becomes the reply's error like any handler's."""

    async def ping(_request: Ping) -> Ack:
        if check is not None:
            await check()
        return Ack()

    return route(subject, Ping, ping)


def never_unavailable(_error: BaseException) -> bool:
    return False


Unavailable = Callable[[BaseException], bool]
"""Whether an exception of a domain function is an outage (``service_unavailable``)."""

Answered = Callable[[str, str, float], None]
"""Called after each request with its subject, outcome and seconds taken (metrics)."""


def _error(code: ErrorCode, message: str) -> bytes:
    return encode(Reply[Any](error=RpcError(code=code.value, message=message)))


def headers_size(headers: dict[str, str] | None) -> int:
    """Bytes of the header block a message carries: ``Msg.respond`` sends the request's
    headers (trace context) back, and the server's limit counts them with the payload."""
    if headers is None:
        return 0
    lines = sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())
    return len(b"NATS/1.0\r\n") + lines + 2


def bounded(
    subject: str, reply: bytes, outcome: str, max_payload: int, headers_bytes: int = 0
) -> tuple[bytes, str]:
    """``reply`` if the server takes it, else a ``reply_too_large`` error in its place."""
    if len(reply) + headers_bytes <= max_payload:
        return reply, outcome
    log.error(
        "%s: reply of %d bytes (%s) exceeds the max payload of %d bytes; "
        "answered reply_too_large instead",
        subject,
        len(reply),
        outcome,
        max_payload - headers_bytes,
    )
    code = ErrorCode.REPLY_TOO_LARGE
    message = (
        f"the reply ({len(reply)} bytes) exceeds the NATS max payload "
        f"({max_payload - headers_bytes} bytes)"
    )
    return _error(code, message), code.value


async def answer_with_outcome(
    route: Route, data: bytes, unavailable: Unavailable = never_unavailable
) -> tuple[bytes, str]:
    """The encoded ``Reply`` and its outcome (``OK`` or the error code). Never raises."""
    try:
        request = route.decode(data)
    except DecodeErrors as exc:
        code = ErrorCode.INVALID_REQUEST
        return _error(code, f"malformed request: {exc}"), code.value
    try:
        result = await route.handle(request)
    except RequestRefused as exc:
        return _error(exc.code, exc.message), exc.code.value
    except Exception as exc:
        if unavailable(exc):
            log.warning("%s: database unavailable: %r", route.subject, exc)
            code = ErrorCode.SERVICE_UNAVAILABLE
            return _error(code, "database unavailable, try again"), code.value
        log.exception("%s failed", route.subject)
        return _error(ErrorCode.INTERNAL, "internal error"), ErrorCode.INTERNAL.value
    return encode(Reply[Any](ok=result)), OK


class RpcServer:
    """The service's routes on a FastStream broker; ``start`` subscribes, ``stop`` stops
    taking requests and lets the ones in hand finish."""

    def __init__(
        self,
        nc: NatsClient,
        routes: list[Route],
        *,
        queue: str,
        concurrency: int,
        unavailable: Unavailable = never_unavailable,
        on_answered: Answered | None = None,
        tracing: ServiceTracing | None = None,
        metrics: CollectorRegistry | None = None,
        broker: ServiceBroker | None = None,
    ) -> None:
        """``broker``: the service's, when other parts of it subscribe too (else one of
        its own, with FastStream's tracing middleware when ``tracing`` is on and its
        Prometheus middleware counting into ``metrics`` when given)."""
        self._nc = nc
        self.routes = routes
        self._unavailable = unavailable
        self._on_answered = on_answered
        self._tracing = tracing
        # The semaphore is the bound, service-wide as the setting means. max_workers
        # (per subject) makes FastStream run each request in its own task, off the
        # subscription's: unsubscribing at stop then does not cancel those in hand.
        self._slots = asyncio.Semaphore(concurrency)
        # Tracing on: FastStream's OpenTelemetry middleware runs each request in a span.
        self.broker = broker or ServiceBroker(
            nc, middlewares=(*rpc_middlewares(tracing), *bus_metrics(metrics, queue))
        )
        self._subscribers = [
            self.broker.subscriber(
                r.subject,
                queue=queue,
                max_workers=max(concurrency, 2),
                # Replied with nats-py's Msg.respond (see _serve), not by FastStream.
                no_reply=True,
                decoder=the_message,
                title=r.subject,
            )
            for r in routes
        ]
        for subscriber, r in zip(self._subscribers, routes, strict=True):
            subscriber(self._handler(r))

    def _handler(self, route: Route) -> Callable[[Any], Awaitable[bytes]]:
        # Raw bytes in, bytes out: the payload is decoded here, not by FastStream's
        # serializer, so a malformed one becomes an invalid_request reply (FastStream
        # would raise before the handler and send nothing), and the reply is the Reply
        # envelope encoded once, its size checked against what is really sent.
        # ``message`` is typed Any for FastStream's AsyncAPI, which reads parameter
        # types through pydantic (asyncapi.py fills in the payloads).
        async def on_request(message: Any) -> bytes:
            raw: Msg = message.raw_message
            async with self._slots:
                return await self._serve(route, raw)

        return on_request

    async def _serve(self, route: Route, msg: Msg) -> bytes:
        """The reply to ``msg``, sent if it asks for one. Never raises."""
        started = time.perf_counter()
        reply, outcome = await answer_with_outcome(route, msg.data, self._unavailable)
        reply, outcome = bounded(
            route.subject, reply, outcome, self._nc.max_payload, headers_size(msg.headers)
        )
        if self._tracing is not None:
            _describe_request(route.subject, outcome)
        try:
            if self._on_answered is not None:
                self._on_answered(route.subject, outcome, time.perf_counter() - started)
            if msg.reply:
                # Msg.respond sends the request's headers (trace context) back with the
                # reply, which ``bounded`` counted; FastStream's reply would add its own.
                await msg.respond(reply)
        except Exception as exc:  # connection closing: the caller times out
            log.warning("%s: reply not sent: %r", route.subject, exc)
        return reply

    async def start(self) -> None:
        await self.broker.start_subscribers(self._subscribers)

    async def stop(self, timeout_s: float) -> None:
        """Stop taking requests; let the ones in hand finish (up to ``timeout_s``, then
        they are cancelled)."""
        # Unsubscribed first, so the queue group hands new requests to the other
        # instances at once; FastStream's stop alone keeps the subscription while it
        # waits, and drops what arrives meanwhile (those callers would time out).
        await self.broker.stop_subscribers(self._subscribers, timeout_s)


def _describe_request(subject: str, outcome: str) -> None:
    """Our outcome on FastStream's span of the request (the current one), with the
    messaging attributes its consumer spans leave out (``messaging.destination.name``:
    FastStream writes ``messaging.destination_publish.name``)."""
    span = trace.get_current_span()
    span.set_attributes({**messaging_attributes(subject), "llmchat.outcome": outcome})
