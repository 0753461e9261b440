"""The api's only way to the model-admin service: NATS request-reply with ``Reply[T]``,
and the change feed (``ADMIN_CHANGES`` + the workers' swap statuses) for the admin SSE.

``ModelAdmin`` is the Protocol the models feature and the chat router depend on (unit
tests pass an in-memory fake); ``NatsModelAdmin`` implements it over ``RpcClient``
(``chat_api.service_client``). A reply that does not come within ``timeout_s`` (or no
responder at all: model-admin is not running) raises ``ModelAdminUnavailable``, a 503
``service_unavailable``; an error reply becomes the ``ApiError`` of its code
(``STATUS_OF_ADMIN_CODE``; any other code is a ``ModelAdminUnavailable`` too).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import msgspec
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from chat_api.errors import ApiError
from chat_api.service_client import ServiceClient, ServiceErrors
from contracts import subjects
from contracts.admin import (
    ActivateAccepted,
    ActivateRequest,
    AddProfile,
    AdminChange,
    CheckProfile,
    CheckResult,
    ListProfiles,
    ListWorkers,
    ProfileDetail,
    ProfileList,
    ResolvedModel,
    ResolveModel,
    SetAlias,
    SwapStatus,
    WorkerList,
)
from contracts.codec import decode_admin_change, decode_swap_status
from contracts.errors import ErrorCode

log = logging.getLogger("chat_api.model_admin")

RETRY_AFTER_S = "5"

STATUS_OF_ADMIN_CODE: dict[str, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.MODEL_NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PROFILE_INCOMPATIBLE: 409,
    ErrorCode.HARDWARE_UNKNOWN: 409,
    ErrorCode.PROFILE_READ_ONLY: 409,
    ErrorCode.PROFILE_INVALID: 422,
}
"""Refusals model-admin answers with, as HTTP statuses; any other code is a 503."""

FeedItem = AdminChange | SwapStatus


class ModelAdminUnavailable(ApiError):
    """Model-admin did not answer (not running, timeout, connection closing)."""

    def __init__(self, message: str = "the model-admin service is unavailable; retry") -> None:
        super().__init__(
            503, ErrorCode.SERVICE_UNAVAILABLE, message, headers={"Retry-After": RETRY_AFTER_S}
        )


class ChangeFeed(Protocol):
    """Live admin changes until ``close``; ``get`` waits for the next one."""

    async def get(self) -> FeedItem: ...

    async def close(self) -> None: ...


class ModelAdmin(Protocol):
    async def list_profiles(self, request: ListProfiles) -> ProfileList: ...
    async def list_workers(self, request: ListWorkers) -> WorkerList: ...
    async def check(self, request: CheckProfile) -> CheckResult: ...
    async def activate(self, request: ActivateRequest) -> ActivateAccepted: ...
    async def add_profile(self, request: AddProfile) -> ProfileDetail: ...
    async def set_alias(self, request: SetAlias) -> ResolvedModel: ...
    async def resolve(self, request: ResolveModel) -> ResolvedModel: ...
    async def changes(self) -> ChangeFeed:
        """Subscribe to the change feed (subscribed when this returns)."""
        ...


MODEL_ADMIN_ERRORS = ServiceErrors(
    "model-admin",
    STATUS_OF_ADMIN_CODE,
    ModelAdminUnavailable,
    # Model-admin may simply not be deployed: the router falls back and logs that itself.
    unreachable_log_level=logging.DEBUG,
)


class NatsChangeFeed:
    """``ADMIN_CHANGES`` and ``ADMIN_STATUS_SUBJECTS`` (core subscriptions) into one queue.

    A swap status arrives twice on the bus: from the worker on its status subject and
    again inside model-admin's ``AdminChange(kind="swap")``. The feed keeps the worker's
    own report (it flows even while model-admin is down) and drops the echo."""

    def __init__(self, max_queued: int = 1000) -> None:
        self._queue: asyncio.Queue[FeedItem] = asyncio.Queue(max_queued)
        self._subs: list[Subscription] = []

    def _put(self, item: FeedItem) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:  # a reader that stopped reading loses changes, not memory
            log.warning("admin change feed full; change dropped")

    async def _on_change(self, msg: Msg) -> None:
        try:
            change = decode_admin_change(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("bad admin change: %s", exc)
            return
        if change.kind != "swap":
            self._put(change)

    async def _on_swap(self, msg: Msg) -> None:
        try:
            self._put(decode_swap_status(msg.data))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("bad swap status on %s: %s", msg.subject, exc)

    async def open(self, nc: NatsClient) -> NatsChangeFeed:
        self._subs.append(await nc.subscribe(subjects.ADMIN_CHANGES, cb=self._on_change))
        self._subs.append(await nc.subscribe(subjects.ADMIN_STATUS_SUBJECTS, cb=self._on_swap))
        await nc.flush()
        return self

    async def get(self) -> FeedItem:
        return await self._queue.get()

    async def close(self) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # connection closed or draining
                log.debug("change feed unsubscribe: %r", exc)


class NatsModelAdmin(ServiceClient):
    """``ModelAdmin`` over core NATS request-reply (queue group of model-admin)."""

    errors = MODEL_ADMIN_ERRORS

    async def list_profiles(self, request: ListProfiles) -> ProfileList:
        return await self.call(subjects.ADMIN_PROFILES_LIST, request, ProfileList)

    async def list_workers(self, request: ListWorkers) -> WorkerList:
        return await self.call(subjects.ADMIN_WORKERS_LIST, request, WorkerList)

    async def check(self, request: CheckProfile) -> CheckResult:
        return await self.call(subjects.ADMIN_PROFILES_CHECK, request, CheckResult)

    async def activate(self, request: ActivateRequest) -> ActivateAccepted:
        return await self.call(subjects.ADMIN_ACTIVATE, request, ActivateAccepted)

    async def add_profile(self, request: AddProfile) -> ProfileDetail:
        return await self.call(subjects.ADMIN_PROFILES_ADD, request, ProfileDetail)

    async def set_alias(self, request: SetAlias) -> ResolvedModel:
        return await self.call(subjects.ADMIN_ALIAS_SET, request, ResolvedModel)

    async def resolve(self, request: ResolveModel) -> ResolvedModel:
        return await self.call(subjects.ADMIN_ALIAS_RESOLVE, request, ResolvedModel)

    async def changes(self) -> NatsChangeFeed:
        return await NatsChangeFeed().open(self.nc)
