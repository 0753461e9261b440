"""The api's only way to the model-admin service: NATS request-reply with ``Reply[T]``,
and the change feed (``ADMIN_CHANGES`` + the workers' swap statuses, as the api's
``Announcements`` hear them) for the admin SSE.

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

from nats.aio.client import Client as NatsClient

from chat_api.bus.announcements import Announcements
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
    """Model-admin's changes and the workers' swap statuses (``Announcements``, heard once
    per api instance) into one queue, from the moment it is made until ``close``.

    A swap status arrives twice on the bus: from the worker on its status subject and
    again inside model-admin's ``AdminChange(kind="swap")``. The feed keeps the worker's
    own report (it flows even while model-admin is down) and drops the echo."""

    def __init__(self, announcements: Announcements, max_queued: int = 1000) -> None:
        self._queue: asyncio.Queue[FeedItem] = asyncio.Queue(max_queued)
        self._unlisten = (
            announcements.admin.add(self._on_change),
            announcements.swaps.add(self._put),
        )

    def _put(self, item: FeedItem) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:  # a reader that stopped reading loses changes, not memory
            log.warning("admin change feed full; change dropped")

    def _on_change(self, change: AdminChange) -> None:
        if change.kind != "swap":
            self._put(change)

    async def get(self) -> FeedItem:
        return await self._queue.get()

    async def close(self) -> None:
        for stop_listening in self._unlisten:
            stop_listening()


class NatsModelAdmin(ServiceClient):
    """``ModelAdmin`` over core NATS request-reply (queue group of model-admin)."""

    errors = MODEL_ADMIN_ERRORS

    def __init__(
        self,
        nc: NatsClient,
        timeout_s: float,
        announcements: Announcements,
        *,
        propagate_trace: bool = False,
    ) -> None:
        super().__init__(nc, timeout_s, propagate_trace=propagate_trace)
        self.announcements = announcements

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
        return NatsChangeFeed(self.announcements)
