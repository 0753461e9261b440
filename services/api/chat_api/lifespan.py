"""App lifespan: connect the gateway to NATS (unless one was injected), then drain.

On shutdown every open stream first gets a ``shutting_down`` error and its cancel is
published; then the NATS connection drains.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State

from chat_api.accounts.throttle import AUTH_THROTTLE_KEY, AuthThrottle
from chat_api.auth import AUTHENTICATOR_KEY, Authenticator
from chat_api.cache_invalidation import CacheInvalidation
from chat_api.chat.service import ChatService
from chat_api.chat.titles import TitleWriter
from chat_api.gateway import NatsGateway
from chat_api.health.dependencies import DEPENDENCIES_KEY, DependencyProbe
from chat_api.limits.admission import ChatAdmission
from chat_api.metering_client import NatsMetering
from chat_api.model_admin_client import ModelAdmin, NatsModelAdmin
from chat_api.models import MODELS_KEY, ModelRouter, ModelsService
from chat_api.persistence_client import NatsPersistence, Persistence
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from chat_api.telemetry import METRICS_KEY, TRACING_KEY, ApiMetrics, ApiTracing
from chat_api.usage import USAGE_KEY, UsageService
from chat_api.user_settings import UserSettingsService
from chat_api.workers import WorkerRegistry
from contracts.bus import redacted

log = logging.getLogger("chat_api.lifespan")

STATE_KEY = "chat_service"
PERSISTENCE_KEY = "persistence"
USER_SETTINGS_KEY = "user_settings"


def install_services(
    state: dict[str, object] | State,
    settings: ApiSettings,
    chat_service: ChatService,
    persistence: Persistence | None,
    model_admin: ModelAdmin | None = None,
) -> None:
    """Put the chat service, persistence client, model-admin client and the objects built
    on them on the state."""
    state[STATE_KEY] = chat_service
    if model_admin is not None and chat_service.router.admin is None:
        chat_service.router = ModelRouter(settings, model_admin)
    state[MODELS_KEY] = ModelsService(
        settings,
        model_admin,
        chat_service.router,
        chat_service.gateway.workers,
        chat_service.streams,
    )
    state[PERSISTENCE_KEY] = persistence
    state[AUTHENTICATOR_KEY] = Authenticator(settings, persistence)
    # Sign-in attempts are counted where chats are (the same store, shared with Redis).
    state[AUTH_THROTTLE_KEY] = AuthThrottle(
        chat_service.admission.limiter,
        per_address=settings.auth_attempts_per_address,
        per_account=settings.auth_attempts_per_account,
    )
    metrics = state.get(METRICS_KEY)
    if isinstance(metrics, ApiMetrics) and chat_service.metrics is None:
        chat_service.metrics = metrics
        metrics.watch_workers(chat_service.gateway.workers)
        if chat_service.admission.load is not None:
            metrics.watch_loop_lag(chat_service.admission.load)
        queue = chat_service.admission.queue
        if queue is not None:
            metrics.watch_queue_depth(queue.depths)
    if persistence is not None:
        user_settings = UserSettingsService(settings, persistence)
        state[USER_SETTINGS_KEY] = user_settings
        if chat_service.persistence is None:
            chat_service.persistence = persistence
        if chat_service.user_defaults is None:
            chat_service.user_defaults = user_settings
        if chat_service.titles is None:
            chat_service.titles = TitleWriter(settings, chat_service.gateway, persistence)


def nats_lifespan(
    settings: ApiSettings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        registry = WorkerRegistry(settings.worker_stale_after_s)
        metrics = app.state.get(METRICS_KEY)
        gateway = await NatsGateway.connect(
            settings.nats_url,
            registry,
            settings.nats_connect_timeout_s,
            settings.worker_sweep_interval_s,
            metrics.registry if isinstance(metrics, ApiMetrics) else None,
        )
        # Tracing on: every request, event and service call carries the trace context.
        tracing: ApiTracing | None = app.state.get(TRACING_KEY)
        trace = gateway.propagate_trace = tracing is not None
        streams = StreamTable()
        persistence = NatsPersistence(
            gateway.nc, settings.persistence_timeout_s, propagate_trace=trace
        )
        admission = ChatAdmission.from_settings(
            settings,
            gateway.js,
            tracer_provider=None if tracing is None else tracing.provider,
            open_streams=streams.__len__,
        )
        admission.start()
        model_admin = NatsModelAdmin(
            gateway.nc,
            settings.model_admin_timeout_s,
            gateway.announcements,
            propagate_trace=trace,
        )
        service = ChatService(
            settings,
            gateway,
            streams,
            admission=admission,
            router=ModelRouter(settings, model_admin),
        )
        install_services(app.state, settings, service, persistence, model_admin)
        await gateway.serve_cancels(service.cancel_relayed_here)
        await gateway.serve_watches(service.watched)
        app.state[DEPENDENCIES_KEY] = DependencyProbe(gateway.nc)
        invalidation = CacheInvalidation(
            app.state[AUTHENTICATOR_KEY],
            app.state.get(USER_SETTINGS_KEY),
            service.router if service.router.admin is not None else None,
        )
        invalidation.start(gateway.announcements)
        gateway.on_reconnect.append(invalidation.reconnected)
        app.state[USAGE_KEY] = UsageService(
            settings,
            NatsMetering(gateway.nc, settings.metering_timeout_s, propagate_trace=trace),
        )
        log.info(
            "api connected to NATS at %s; models %s; model-admin routing %s",
            redacted(settings.nats_url),
            settings.models,
            settings.model_admin_routing,
        )
        try:
            yield
        finally:
            if service.titles is not None:
                await service.titles.close()
            await shutdown_streams(streams, settings.shutdown_grace_s)
            await admission.close()
            invalidation.stop()
            await gateway.close()
            log.info("api stopped")

    return lifespan


async def shutdown_streams(streams: StreamTable, grace_s: float) -> None:
    streams.begin_shutdown()
    if len(streams) and not await streams.wait_empty(grace_s):
        log.warning("%d streams still open after %.1f s", len(streams), grace_s)
