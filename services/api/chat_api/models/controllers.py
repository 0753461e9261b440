"""``/api/models`` (any user) and ``/api/admin/models*``, ``/api/admin/aliases/*`` (admins):
thin routes over ``ModelsService``; refusals of model-admin keep their codes (409 / 422 /
404, ``chat_api.model_admin_client``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.datastructures import State
from litestar.response import Stream

from chat_api.auth import AuthUser, admin_only
from chat_api.chat.sse import SSE_HEADERS, SSE_MEDIA_TYPE
from chat_api.model_admin_client import ModelAdminUnavailable
from chat_api.models.schemas import (
    ActivateBody,
    Activated,
    AdminModels,
    AliasBody,
    DryRun,
    UserModelList,
)
from chat_api.models.service import MODELS_KEY, ModelsService
from contracts.admin import ProfileDetail, ResolvedModel


def provide_models(state: State) -> ModelsService:
    service: ModelsService | None = state.get(MODELS_KEY)
    if service is None:
        raise ModelAdminUnavailable("model administration is not available in this api")
    return service


class ModelsController(Controller):
    path = "/api/models"
    tags = ["models"]

    @get("/", summary="Models users may pick: aliases, default sampling, live state")
    async def models(self, models: ModelsService) -> UserModelList:
        return await models.user_models()


class AdminModelsController(Controller):
    path = "/api/admin"
    tags = ["admin", "models"]
    guards = [admin_only]

    @get("/models", summary="Every profile and every worker")
    async def overview(self, models: ModelsService) -> AdminModels:
        return await models.admin_models()

    @post("/models", status_code=201, summary="Add a profile (body: ProfileSpec JSON)")
    async def add(
        self, request: Request[AuthUser, str, Any], models: ModelsService
    ) -> ProfileDetail:
        return await models.add_profile(await request.body(), request.user.id)

    @post(
        "/models/{profile:str}/activate",
        status_code=200,
        summary="Swap a worker group to a profile (dry_run: only the compatibility check)",
    )
    async def activate(
        self,
        request: Request[AuthUser, str, Any],
        profile: str,
        data: ActivateBody,
        models: ModelsService,
    ) -> DryRun | Activated:
        return await models.activate(profile, data, request.user.id)

    @post("/models/{profile:str}/check", status_code=200, summary="Dry run of an activate")
    async def check(self, profile: str, data: ActivateBody, models: ModelsService) -> DryRun:
        result = await models.activate(
            profile, ActivateBody(group=data.group, hardware=data.hardware, dry_run=True), ""
        )
        assert isinstance(result, DryRun)
        return result

    @put("/aliases/{alias:path}", summary="Point an alias at a profile (null: drop it)")
    async def set_alias(
        self,
        request: Request[AuthUser, str, Any],
        alias: str,
        data: AliasBody,
        models: ModelsService,
    ) -> ResolvedModel:
        return await models.set_alias(alias.lstrip("/"), data.profile, request.user.id)

    @get(
        "/models/events",
        media_type=SSE_MEDIA_TYPE,
        summary="SSE: model and worker status changes",
    )
    async def events(self, models: ModelsService) -> Stream:
        return Stream(await models.open_events(), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)
