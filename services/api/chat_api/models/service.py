"""``ModelsService``: what ``/api/models`` and ``/api/admin/models*`` do, over the
model-admin client (``chat_api.model_admin_client``), the api's worker registry and the
chat router's cache.

The admin SSE stream (``events``): subscribe to the change feed first, then send a
snapshot (``profiles.list`` + ``workers.list``), then every change as it comes, with a
keep-alive comment when nothing happens; it ends when the client goes away (the
generator is cancelled) or the api shuts down (``StreamTable.closing``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Coroutine
from typing import Any

import msgspec

from chat_api.errors import ApiError
from chat_api.model_admin_client import (
    ChangeFeed,
    FeedItem,
    ModelAdmin,
    ModelAdminUnavailable,
)
from chat_api.models.routing import ModelRouter
from chat_api.models.schemas import (
    ActivateBody,
    Activated,
    AdminModels,
    AdminWorker,
    DryRun,
    UserModel,
    UserModelList,
)
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from chat_api.workers import WorkerRegistry
from contracts.admin import (
    ActivateRequest,
    AddProfile,
    AdminChange,
    CheckProfile,
    ListProfiles,
    ListWorkers,
    ProfileDetail,
    ResolvedModel,
    SetAlias,
    SwapStatus,
    WorkerView,
)
from contracts.errors import ErrorCode

log = logging.getLogger("chat_api.models")

MODELS_KEY = "models_service"
KEEPALIVE_S = 15.0

_encode = msgspec.json.encode


class Snapshot(msgspec.Struct, kw_only=True):
    available: bool
    """False: model-admin did not answer; changes still flow once it does."""
    admin: AdminModels | None = None


def frame(event: str, data: msgspec.Struct) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _encode(data) + b"\n\n"


def change_frame(item: FeedItem) -> bytes:
    """``swap`` (a worker's ``SwapStatus``), or the change's kind (``worker``, ``desired``,
    ``aliases``) with the ``AdminChange`` as data."""
    if isinstance(item, SwapStatus):
        return frame("swap", item)
    return frame(item.kind, item)


def admin_worker(view: WorkerView) -> AdminWorker:
    s = view.status
    return AdminWorker(
        worker_id=s.worker_id,
        group=s.model,
        profile_id=s.profile_id,
        state=s.state,
        in_flight=s.in_flight,
        capacity=s.capacity,
        queue_depth=s.queue_depth,
        hardware=s.hardware,
        engine=s.engine,
        detail=s.detail,
        command_id=s.command_id,
        last_seen_s=round(view.age_s, 3),
        gone=view.gone,
        engine_stats=s.engine_stats,
    )


class ModelsService:
    def __init__(
        self,
        settings: ApiSettings,
        admin: ModelAdmin | None,
        router: ModelRouter,
        workers: WorkerRegistry,
        streams: StreamTable,
    ) -> None:
        self.settings = settings
        self._admin = admin
        self.router = router
        self.workers = workers
        self.streams = streams
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def admin(self) -> ModelAdmin:
        if self._admin is None:
            raise ModelAdminUnavailable("model administration is not available in this api")
        return self._admin

    # --- users ---------------------------------------------------------------------------
    async def user_models(self) -> UserModelList:
        profiles = await self.router.profiles()
        if profiles is None:
            return self._whitelist()
        return UserModelList(
            source="model-admin",
            default_model=self.settings.default_model,
            models=[
                UserModel(
                    id=p.id,
                    display_name=p.display_name,
                    aliases=p.aliases,
                    defaults=p.sampling,
                    max_model_len=p.max_model_len,
                    state=p.state,
                    ready_workers=p.ready_workers,
                )
                for p in profiles.profiles
            ],
        )

    def _whitelist(self) -> UserModelList:
        views = [v for v in self.workers.views() if v.live]
        models = []
        for name in self.settings.models:
            ready = sum(1 for v in views if v.model == name and v.state == "ready")
            states = {v.state for v in views if v.model == name}
            models.append(
                UserModel(
                    id=name,
                    display_name=name,
                    aliases=[],
                    defaults=None,
                    max_model_len=None,
                    state="ready"
                    if ready
                    else "loading"
                    if states & {"starting", "loading"}
                    else "draining"
                    if "draining" in states
                    else "offline",
                    ready_workers=ready,
                )
            )
        return UserModelList(
            source="whitelist", default_model=self.settings.default_model, models=models
        )

    # --- admins --------------------------------------------------------------------------
    async def admin_models(self) -> AdminModels:
        profiles, workers = await asyncio.gather(
            self.admin.list_profiles(ListProfiles(admin=True)),
            self.admin.list_workers(ListWorkers()),
        )
        return AdminModels(
            profiles=profiles.profiles, workers=[admin_worker(w) for w in workers.workers]
        )

    async def activate(self, profile: str, body: ActivateBody, user_id: str) -> DryRun | Activated:
        if body.dry_run:
            result = await self.admin.check(
                CheckProfile(profile=profile, group=body.group, hardware=body.hardware)
            )
            shown = next((c for c in result.checks if not c.report.fits), result.checks[0])
            return DryRun(
                profile_id=result.profile_id,
                group=result.group,
                fits=result.fits,
                needed_gib=shown.report.needed_gib,
                available_gib=shown.report.available_gib,
                reason=result.reason,
                checks=result.checks,
            )
        accepted = await self.admin.activate(
            ActivateRequest(
                profile=profile,
                group=body.group,
                drain_timeout_s=body.drain_timeout_s,
                issued_by=user_id,
                hardware=body.hardware,
            )
        )
        self.router.forget()
        return Activated(accepted=accepted)

    async def add_profile(self, body: bytes, user_id: str) -> ProfileDetail:
        try:
            parsed = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise ApiError(400, ErrorCode.INVALID_REQUEST, f"body is not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ApiError(
                422, ErrorCode.PROFILE_INVALID, "a profile is a JSON object (the ProfileSpec)"
            )
        detail = await self.admin.add_profile(
            AddProfile(profile=msgspec.Raw(body), added_by=user_id)
        )
        self.router.forget()
        return detail

    async def set_alias(self, alias: str, profile: str | None, user_id: str) -> ResolvedModel:
        try:
            request = msgspec.convert(
                {"alias": alias, "profile": profile, "set_by": user_id}, SetAlias
            )
        except msgspec.ValidationError as exc:
            raise ApiError(400, ErrorCode.INVALID_REQUEST, str(exc), param="alias") from None
        resolved = await self.admin.set_alias(request)
        self.router.forget()
        return resolved

    # --- the admin SSE stream ------------------------------------------------------------
    async def open_events(self) -> AsyncGenerator[bytes, None]:
        """Subscribe now (so nothing between the snapshot and the first change is lost),
        and return the frames; 503 when the bus is not there."""
        feed = await self.admin.changes()
        return self._events(feed)

    async def _snapshot(self) -> Snapshot:
        try:
            return Snapshot(available=True, admin=await self.admin_models())
        except ModelAdminUnavailable:
            return Snapshot(available=False)

    async def _events(self, feed: ChangeFeed) -> AsyncGenerator[bytes, None]:
        closing = asyncio.create_task(self.streams.closing.wait())
        try:
            yield frame("snapshot", await self._snapshot())
            while not closing.done():
                get = asyncio.create_task(feed.get())
                try:
                    done, _ = await asyncio.wait(
                        {get, closing}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    if not get.done():
                        get.cancel()
                if get in done:
                    item: AdminChange | SwapStatus = get.result()
                    if isinstance(item, AdminChange) and item.kind in ("aliases", "desired"):
                        self.router.forget()
                    yield change_frame(item)
                elif not done:
                    yield b": keep-alive\n\n"
            yield b'event: end\ndata: {"reason":"shutting_down"}\n\n'
        finally:
            closing.cancel()
            # the generator may be closing inside a cancelled scope: unsubscribe in a task
            self._spawn(feed.close())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
