"""The lifespan of a service that owns a database (persistence, metering): wait for the
database to be ready (migrate, check), open the handle, connect to NATS, serve, and close
everything whatever happened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from contracts.bus import redacted
from llmchat_bus.lifespan import connect_or_exit, drain, stop_on_signals
from llmchat_bus.metrics_endpoint import MetricsEndpoint
from llmchat_bus.tracing import ServiceTracing
from llmchat_sql.database import Database, is_unavailable
from llmchat_sql.settings import DatabaseServiceSettings

READY_RETRY_FIRST_S = 0.25
"""The first wait before preparing the database again; doubled after each attempt."""


async def retry_until_ready(
    stop: asyncio.Event,
    prepare: Callable[[], Awaitable[None]],
    *,
    retry_max_s: float,
    log: logging.Logger,
    retry_on: Callable[[BaseException], bool] = is_unavailable,
) -> bool:
    """``prepare()`` (migrate, check, bootstrap), retried with back-off (up to
    ``retry_max_s``) while it fails with an error ``retry_on`` accepts. False if ``stop``
    was set first; any other error propagates."""
    delay = READY_RETRY_FIRST_S
    attempt = 0
    while not stop.is_set():
        attempt += 1
        try:
            await prepare()
        except Exception as exc:
            if not retry_on(exc):
                raise
            if attempt == 1 or attempt % 10 == 0:
                log.warning("database not available yet (%r); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, retry_max_s)
            continue
        return True
    return False


async def run_database_service(
    name: str,
    settings: DatabaseServiceSettings,
    serve: Callable[[Database, NatsClient, asyncio.Event], Awaitable[int]],
    *,
    stop: asyncio.Event | None = None,
    install_signal_handlers: bool = False,
    log: logging.Logger,
    metrics: CollectorRegistry | None = None,
    tracing: ServiceTracing | None = None,
) -> int:
    """The lifespan of a service that owns a database (persistence, metering): open the
    database handle, connect to NATS, serve ``metrics`` on ``metrics_port``, run ``serve``
    until it returns (``stop`` set, by SIGTERM / SIGINT too when
    ``install_signal_handlers``); then stop the endpoint, flush ``tracing``, drain NATS and
    close the database, whatever happened. Returns the exit code."""
    stop = stop or asyncio.Event()
    if install_signal_handlers:
        stop_on_signals(stop)
    if settings.database_url is None:
        # The data directory holds the databases, the JWT secret and the bus passwords.
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        settings.data_dir.chmod(0o700)
    db = Database(
        settings.db_url,
        pool_size=settings.db_pool_size,
        timeout_s=settings.db_timeout_s,
        tracer_provider=None if tracing is None else tracing.provider,
    )
    log.info(
        "%s starting: nats=%s database=%s",
        name,
        redacted(settings.nats_url),
        db.url.render_as_string(hide_password=True),
    )
    try:
        nc = await connect_or_exit(settings, name, stop, log)
        if isinstance(nc, int):
            if tracing is not None:
                tracing.shutdown()
            return nc
        endpoint = None
        if metrics is not None:
            endpoint = MetricsEndpoint(metrics, settings.metrics_host, settings.metrics_port)
            endpoint.start()
        try:
            return await serve(db, nc, stop)
        finally:
            if endpoint is not None:
                endpoint.stop()
            if tracing is not None:
                tracing.shutdown()
            await drain(nc, log)
    finally:
        await db.dispose()
        log.info("%s stopped", name)
