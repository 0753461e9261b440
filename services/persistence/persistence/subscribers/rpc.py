"""``on_<request>``: core NATS request-reply on every ``ACCOUNT_*`` / ``REFRESH_*`` /
``API_KEY_*`` / ``SETTINGS_*`` / ``CONV_*`` subject, queue group ``PERSISTENCE_QUEUE``.

One route per subject: decode the request Struct, call one domain function, reply
``Reply(ok=...)`` or ``Reply(error=RpcError(code, message))``. A malformed payload is
``invalid_request``; a database failure is ``service_unavailable``; anything else is
``internal_error`` (logged). A handler never raises into the service. Each request runs in
its own task (at most ``concurrency`` at once), so one slow request (argon2, a big
conversation) does not hold up the others on its subject.
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
from opentelemetry.trace import SpanKind

from contracts import accounts as acc
from contracts import conversations as conv
from contracts import subjects
from contracts.codec import DecodeErrors, encode
from contracts.errors import ErrorCode
from contracts.rpc import Reply, RpcError
from persistence.accounts import Accounts
from persistence.conversations import Conversations
from persistence.database import UNAVAILABLE_ERRORS
from persistence.errors import DomainError
from persistence.metrics import PersistenceMetrics
from persistence.tracing import PersistenceTracing, message_span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    subject: str
    decode: Callable[[bytes], Any]
    handle: Callable[[Any], Awaitable[msgspec.Struct]]


def _route(subject: str, request: type[msgspec.Struct], handle: Callable[[Any], Any]) -> Route:
    return Route(subject, msgspec.json.Decoder(request).decode, handle)


def routes(accounts: Accounts, conversations: Conversations) -> list[Route]:
    """Subject -> (request Struct, domain function). The reply's ``ok`` is what it returns."""
    a, c = accounts, conversations
    return [
        _route(subjects.ACCOUNT_REGISTER, acc.RegisterUser, a.register),  # UserView
        _route(subjects.ACCOUNT_AUTHENTICATE, acc.Authenticate, a.authenticate),  # UserView
        _route(subjects.ACCOUNT_GET, acc.GetUser, a.get_user),  # UserView
        _route(subjects.ACCOUNT_LIST, acc.ListUsers, a.list_users),  # UserList
        _route(subjects.ACCOUNT_UPDATE, acc.UpdateUser, a.update_user),  # UserView
        _route(subjects.REFRESH_ISSUE, acc.IssueRefresh, a.issue_refresh),  # RefreshIssued
        _route(subjects.REFRESH_ROTATE, acc.RotateRefresh, a.rotate_refresh),  # RefreshRotated
        _route(subjects.REFRESH_REVOKE, acc.RevokeRefresh, a.revoke_refresh),  # Ack
        _route(subjects.API_KEY_CREATE, acc.CreateApiKey, a.create_api_key),  # ApiKeyCreated
        _route(subjects.API_KEY_LIST, acc.ListApiKeys, a.list_api_keys),  # ApiKeyList
        _route(subjects.API_KEY_REVOKE, acc.RevokeApiKey, a.revoke_api_key),  # Ack
        _route(subjects.API_KEY_VERIFY, acc.VerifyApiKey, a.verify_api_key),  # ApiKeyOwner
        _route(subjects.SETTINGS_GET, acc.GetSettings, a.get_settings),  # UserSettings
        _route(subjects.SETTINGS_PUT, acc.PutSettings, a.put_settings),  # UserSettings
        _route(subjects.CONV_CREATE, conv.CreateConversation, c.create),  # ConversationView
        _route(subjects.CONV_LIST, conv.ListConversations, c.list),  # ConversationList
        _route(subjects.CONV_GET, conv.GetConversation, c.get),  # ConversationDetail
        _route(subjects.CONV_UPDATE, conv.UpdateConversation, c.update),  # ConversationView
        _route(subjects.CONV_DELETE, conv.DeleteConversation, c.delete),  # Ack
    ]


def _error(code: ErrorCode, message: str) -> bytes:
    return encode(Reply[Any](error=RpcError(code=code.value, message=message)))


OK = "ok"


async def answer(route: Route, data: bytes) -> bytes:
    """The encoded ``Reply`` to one request. Never raises."""
    reply, _outcome = await answer_with_outcome(route, data)
    return reply


async def answer_with_outcome(route: Route, data: bytes) -> tuple[bytes, str]:
    """The encoded ``Reply`` and its outcome (``ok`` or the error code). Never raises."""
    try:
        request = route.decode(data)
    except DecodeErrors as exc:
        code = ErrorCode.INVALID_REQUEST
        return _error(code, f"malformed request: {exc}"), code.value
    try:
        result = await route.handle(request)
    except DomainError as exc:
        return _error(exc.code, exc.message), exc.code.value
    except UNAVAILABLE_ERRORS as exc:
        log.warning("%s: database unavailable: %r", route.subject, exc)
        code = ErrorCode.SERVICE_UNAVAILABLE
        return _error(code, "database unavailable, try again"), code.value
    except Exception:
        log.exception("%s failed", route.subject)
        return _error(ErrorCode.INTERNAL, "internal error"), ErrorCode.INTERNAL.value
    return encode(Reply[Any](ok=result)), OK


class RpcServer:
    def __init__(
        self,
        nc: NatsClient,
        routes: list[Route],
        concurrency: int = 64,
        *,
        metrics: PersistenceMetrics | None = None,
        tracing: PersistenceTracing | None = None,
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
                    route.subject, queue=subjects.PERSISTENCE_QUEUE, cb=self._callback(route)
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
            with message_span(self._tracing, route.subject, msg, SpanKind.SERVER) as span:
                reply, outcome = await answer_with_outcome(route, msg.data)
                if span is not None:
                    span.set_attribute("llmchat.outcome", outcome)
            if self._metrics is not None:
                self._metrics.rpc(route.subject, outcome, time.perf_counter() - started)
                if outcome == ErrorCode.SERVICE_UNAVAILABLE:
                    self._metrics.db_error("rpc")
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
