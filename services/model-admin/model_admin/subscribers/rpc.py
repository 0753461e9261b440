"""``on_<request>``: core request-reply on every ``ADMIN_*`` subject, queue group
``MODEL_ADMIN_QUEUE``.

One route per subject: decode the request Struct, call one ``ModelAdmin`` method, reply
``Reply(ok=...)`` or ``Reply(error=RpcError(code, message))``. A malformed payload is
``invalid_request``; an ``AdminError`` carries its own code; anything else is
``internal_error`` (logged). A handler never raises into the service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from contracts import admin as adm
from contracts import subjects
from contracts.codec import DecodeErrors, encode
from contracts.errors import ErrorCode
from contracts.rpc import Reply, RpcError
from model_admin.errors import AdminError
from model_admin.service import ModelAdmin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    subject: str
    decode: Callable[[bytes], Any]
    handle: Callable[[Any], Awaitable[msgspec.Struct]]


def _route(subject: str, request: type[msgspec.Struct], handle: Callable[[Any], Any]) -> Route:
    return Route(subject, msgspec.json.Decoder(request).decode, handle)


def routes(admin: ModelAdmin) -> list[Route]:
    """Subject -> (request Struct, ``ModelAdmin`` method). The reply's ``ok`` is its result."""
    a = admin
    return [
        _route(subjects.ADMIN_PROFILES_LIST, adm.ListProfiles, a.list_profiles),
        _route(subjects.ADMIN_PROFILES_GET, adm.GetProfile, a.get_profile),
        _route(subjects.ADMIN_PROFILES_ADD, adm.AddProfile, a.add_profile),
        _route(subjects.ADMIN_PROFILES_CHECK, adm.CheckProfile, a.check),
        _route(subjects.ADMIN_ACTIVATE, adm.ActivateRequest, a.activate),
        _route(subjects.ADMIN_ALIAS_RESOLVE, adm.ResolveModel, a.resolve),
        _route(subjects.ADMIN_ALIAS_SET, adm.SetAlias, a.set_alias),
        _route(subjects.ADMIN_WORKERS_LIST, adm.ListWorkers, a.list_workers),
        _route(subjects.ADMIN_SWAPS_STATUS, adm.SwapStatusQuery, a.swap_status),
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
    except AdminError as exc:
        return _error(exc.code, exc.message)
    except Exception:
        log.exception("%s failed", route.subject)
        return _error(ErrorCode.INTERNAL, "internal error")
    return encode(Reply[Any](ok=result))


class RpcServer:
    def __init__(self, nc: NatsClient, routes: list[Route], concurrency: int = 32) -> None:
        self._nc = nc
        self._routes = routes
        self._slots = asyncio.Semaphore(concurrency)
        self._subs: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for route in self._routes:
            self._subs.append(
                await self._nc.subscribe(
                    route.subject, queue=subjects.MODEL_ADMIN_QUEUE, cb=self._callback(route)
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
            reply = await answer(route, msg.data)
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
