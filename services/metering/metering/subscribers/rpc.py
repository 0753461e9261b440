"""``on_request``: core NATS request-reply on ``USAGE_SUMMARY`` / ``USAGE_RECORDS``, queue
group ``METERING_QUEUE``.

One route per subject: decode the request Struct, call one ``UsageQueries`` method, reply
``Reply(ok=...)`` or ``Reply(error=RpcError(code, message))``. A malformed payload is
``invalid_request``; a database failure is ``service_unavailable``; anything else is
``internal_error`` (logged). A handler never raises into the service. Each request runs in
its own task (at most ``concurrency`` at once).
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
from nats.aio.subscription import Subscription

from contracts import subjects
from contracts.codec import DecodeErrors, encode
from contracts.errors import ErrorCode
from contracts.rpc import Reply, RpcError
from contracts.usage import ListUsageRecords, UsageQuery
from metering.database import is_unavailable
from metering.errors import DomainError
from metering.metrics import MeteringMetrics
from metering.queries import UsageQueries
from metering.tracing import MeteringTracing, message_span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    subject: str
    decode: Callable[[bytes], Any]
    handle: Callable[[Any], Awaitable[msgspec.Struct]]


def routes(queries: UsageQueries) -> list[Route]:
    """Subject -> (request Struct, domain function). The reply's ``ok`` is what it returns."""
    return [
        Route(subjects.USAGE_SUMMARY, msgspec.json.Decoder(UsageQuery).decode, queries.summary),
        Route(
            subjects.USAGE_RECORDS, msgspec.json.Decoder(ListUsageRecords).decode, queries.records
        ),
    ]


def _error(code: ErrorCode, message: str) -> bytes:
    return encode(Reply[Any](error=RpcError(code=code.value, message=message)))


async def answer(route: Route, data: bytes) -> bytes:
    """The encoded ``Reply`` to one request. Never raises."""
    try:
        request = route.decode(data)
    except DecodeErrors as exc:
        return _error(ErrorCode.INVALID_REQUEST, f"malformed request: {exc}")
    try:
        result = await route.handle(request)
    except DomainError as exc:
        return _error(exc.code, exc.message)
    except Exception as exc:
        if is_unavailable(exc):
            log.warning("%s: database unavailable: %r", route.subject, exc)
            return _error(ErrorCode.SERVICE_UNAVAILABLE, "database unavailable, try again")
        log.exception("%s failed", route.subject)
        return _error(ErrorCode.INTERNAL, "internal error")
    return encode(Reply[Any](ok=result))


class RpcServer:
    def __init__(
        self,
        nc: NatsClient,
        routes: list[Route],
        concurrency: int = 16,
        *,
        metrics: MeteringMetrics | None = None,
        tracing: MeteringTracing | None = None,
    ) -> None:
        self._nc = nc
        self._metrics = metrics
        self._tracing = tracing
        self._routes = routes
        self._slots = asyncio.Semaphore(concurrency)
        self._subs: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for route in self._routes:
            self._subs.append(
                await self._nc.subscribe(
                    route.subject, queue=subjects.METERING_QUEUE, cb=self._callback(route)
                )
            )

    def _callback(self, route: Route) -> Callable[[Msg], Awaitable[None]]:
        async def on_request(msg: Msg) -> None:
            await self._slots.acquire()
            task = asyncio.create_task(self._serve(route, msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return on_request

    async def _serve(self, route: Route, msg: Msg) -> None:
        try:
            started = time.perf_counter()
            with message_span(self._tracing, route.subject, msg):
                reply = await answer(route, msg.data)
            if self._metrics is not None:
                self._metrics.rpc(route.subject, time.perf_counter() - started)
            if msg.reply:
                await msg.respond(reply)
        except Exception as exc:  # connection closing: the caller times out
            log.warning("%s: reply not sent: %r", route.subject, exc)
        finally:
            self._slots.release()

    async def stop(self, timeout_s: float) -> None:
        """Stop taking requests; let the ones in hand finish (up to ``timeout_s``)."""
        subs, self._subs = self._subs, []
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("rpc unsubscribe: %r", exc)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
