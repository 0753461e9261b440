"""``create_app``: the one assembly point of the edge API."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from chat_api.auth import JWTAuthMiddleware
from chat_api.chat import ChatController, ChatService
from chat_api.errors import EXCEPTION_HANDLERS, REQUEST_ID_HEADER, add_request_id_header
from chat_api.health import HealthController
from chat_api.lifespan import STATE_KEY, nats_lifespan
from chat_api.settings import ApiSettings
from chat_api.v1 import OpenAIController


def provide_chat_service(state: State) -> ChatService:
    service: ChatService = state[STATE_KEY]
    return service


def create_app(
    settings: ApiSettings | None = None,
    chat_service: ChatService | None = None,
    debug: bool = False,
) -> Litestar:
    """Build the app. Without ``chat_service`` the lifespan connects to NATS and makes one;
    tests pass a service over a fake gateway instead."""
    settings = settings or ApiSettings.from_env()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    state: dict[str, Any] = {}
    lifespan = []
    if chat_service is None:
        lifespan.append(nats_lifespan(settings))
    else:
        state[STATE_KEY] = chat_service
    return Litestar(
        route_handlers=[ChatController, OpenAIController, HealthController],
        dependencies={"chat_service": Provide(provide_chat_service, sync_to_thread=False)},
        middleware=[
            DefineMiddleware(
                JWTAuthMiddleware, secret=settings.jwt_secret, issuer=settings.jwt_issuer
            )
        ],
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            allow_credentials=False,
        ),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_send=[add_request_id_header],
        lifespan=lifespan,
        state=State(state),
        debug=debug,
    )
