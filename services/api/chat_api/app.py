"""``create_app``: the one assembly point of the edge API."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from chat_api.accounts import AccountService, AuthController, KeysController, MeController
from chat_api.accounts.throttle import AUTH_THROTTLE_KEY, AuthThrottle
from chat_api.admin import AdminController, AdminService
from chat_api.auth import AUTHENTICATOR_KEY, Authenticator, JWTAuthMiddleware
from chat_api.chat import ChatController, ChatService
from chat_api.conversations import ConversationController, ConversationService
from chat_api.errors import (
    EXCEPTION_HANDLERS,
    REQUEST_ID_HEADER,
    add_request_id_header,
    request_id_of,
)
from chat_api.health import HealthController
from chat_api.lifespan import (
    PERSISTENCE_KEY,
    STATE_KEY,
    USER_SETTINGS_KEY,
    install_services,
    nats_lifespan,
)
from chat_api.limits.header_size import HeaderSizeLimit
from chat_api.model_admin_client import ModelAdmin
from chat_api.models.controllers import AdminModelsController, ModelsController, provide_models
from chat_api.persistence_client import Persistence, unavailable
from chat_api.request_log import RequestLogMiddleware
from chat_api.settings import ApiSettings
from chat_api.telemetry import (
    METRICS_KEY,
    TRACING_KEY,
    ApiMetrics,
    ApiTracing,
    MetricsController,
    TelemetryMiddleware,
)
from chat_api.usage import AdminUsageController, UsageController
from chat_api.user_settings import SettingsController, UserSettingsService
from chat_api.v1 import OpenAIController
from chat_api.web import web_app_router
from structured_logs import configure_logging


def provide_chat_service(state: State) -> ChatService:
    service: ChatService = state[STATE_KEY]
    return service


def _persistence(state: State) -> Persistence:
    persistence: Persistence | None = state.get(PERSISTENCE_KEY)
    if persistence is None:
        raise unavailable("accounts and conversations are not available in this api")
    return persistence


def _authenticator(state: State) -> Authenticator:
    authenticator: Authenticator = state[AUTHENTICATOR_KEY]
    return authenticator


def feature_dependencies(settings: ApiSettings) -> dict[str, Provide]:
    """One provider per feature service; each is built over the state's persistence client."""

    def accounts(state: State) -> AccountService:
        throttle: AuthThrottle | None = state.get(AUTH_THROTTLE_KEY)
        return AccountService(settings, _persistence(state), _authenticator(state), throttle)

    def conversations(state: State) -> ConversationService:
        return ConversationService(settings, _persistence(state))

    def admin(state: State) -> AdminService:
        return AdminService(settings, _persistence(state), _authenticator(state))

    def user_settings(state: State) -> UserSettingsService:
        service: UserSettingsService | None = state.get(USER_SETTINGS_KEY)
        if service is None:
            raise unavailable("user settings are not available in this api")
        return service

    return {
        "chat_service": Provide(provide_chat_service, sync_to_thread=False),
        "accounts": Provide(accounts, sync_to_thread=False),
        "conversations": Provide(conversations, sync_to_thread=False),
        "admin": Provide(admin, sync_to_thread=False),
        "user_settings": Provide(user_settings, sync_to_thread=False),
        "models": Provide(provide_models, sync_to_thread=False),
    }


def create_app(
    settings: ApiSettings | None = None,
    chat_service: ChatService | None = None,
    debug: bool = False,
    persistence: Persistence | None = None,
    tracing: ApiTracing | None = None,
    model_admin: ModelAdmin | None = None,
) -> Litestar:
    """Build the app. Without ``chat_service`` the lifespan connects to NATS and makes one
    (with the persistence client over the same connection); tests pass a service over a
    fake gateway instead, and optionally a (fake) ``persistence``. ``tracing`` defaults to
    what the ``OTEL_*`` settings say (tests hand in one over an in-memory exporter).
    ``model_admin`` (with ``chat_service``): a (fake) model-admin client for the models
    routes and the chat router."""
    settings = settings or ApiSettings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    state: dict[str, Any] = {}
    metrics = ApiMetrics() if settings.metrics_enabled else None
    tracing = tracing or ApiTracing.from_settings(settings)
    state[METRICS_KEY] = metrics
    state[TRACING_KEY] = tracing
    lifespan = []
    if chat_service is None:
        lifespan.append(nats_lifespan(settings))
    else:
        install_services(state, settings, chat_service, persistence, model_admin)
    return Litestar(
        route_handlers=[
            ChatController,
            OpenAIController,
            HealthController,
            AuthController,
            MeController,
            KeysController,
            SettingsController,
            ConversationController,
            AdminController,
            UsageController,
            AdminUsageController,
            ModelsController,
            AdminModelsController,
            *([MetricsController] if metrics is not None else []),
            *([web_app_router(settings.web_dir)] if settings.web_dir is not None else []),
        ],
        dependencies=feature_dependencies(settings),
        # Our handler (structured_logs) is on the root logger; Litestar's default
        # config would replace it with its own text format.
        logging_config=None,
        middleware=[
            DefineMiddleware(RequestLogMiddleware, sample_rate=settings.log_sample_messages),
            DefineMiddleware(HeaderSizeLimit, max_bytes=settings.max_header_bytes),
            *(
                [DefineMiddleware(TelemetryMiddleware, metrics=metrics, tracing=tracing)]
                if metrics is not None or tracing is not None
                else []
            ),
            DefineMiddleware(JWTAuthMiddleware),
        ],
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After", "Content-Disposition"],
            allow_credentials=False,
        ),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=settings.max_body_bytes,
        before_send=[add_request_id_header],
        lifespan=lifespan,
        # Tracing on: Litestar's OpenTelemetry plugin puts each HTTP request in a server
        # span (outside the route middleware, which name it by its route).
        plugins=[tracing.http_plugin(request_id_of)] if tracing is not None else [],
        on_shutdown=[tracing.shutdown] if tracing is not None else [],
        state=State(state),
        debug=debug,
    )
