"""``GET /healthz`` (process up) and ``GET /readyz`` (a live worker serves the default model;
the body also says whether persistence, metering and model-admin answer)."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State

from chat_api.chat.service import ChatService
from chat_api.health.dependencies import DEPENDENCIES_KEY, DependencyProbe, DependencyState
from chat_api.workers import WorkerView


class Health(msgspec.Struct, kw_only=True):
    status: Literal["ok"] = "ok"


class Readiness(msgspec.Struct, kw_only=True):
    status: Literal["ready", "not_ready"]
    default_model: str
    workers: list[WorkerView]
    services: dict[str, DependencyState] | None = None
    """persistence / metering / model_admin: ``ok`` or ``unavailable`` (reported only)."""


class HealthController(Controller):
    path = "/"
    tags = ["health"]
    opt = {"exclude_from_auth": True}

    @get("/healthz", summary="Liveness: the process is up")
    async def healthz(self) -> Health:
        return Health()

    @get("/readyz", summary="Readiness: a live worker serves the default model")
    async def readyz(self, chat_service: ChatService, state: State) -> Response[Readiness]:
        workers = chat_service.gateway.workers
        model = chat_service.settings.default_model
        ready = chat_service.streams.accepting and workers.serves(model)
        probe = state.get(DEPENDENCIES_KEY)
        body = Readiness(
            status="ready" if ready else "not_ready",
            default_model=model,
            workers=workers.views(),
            services=await probe.states() if isinstance(probe, DependencyProbe) else None,
        )
        return Response(body, status_code=200 if ready else 503)
