"""The metering process: NATS, database, migrations, the events consumer, usage queries.

``run(settings, stop)`` is the whole lifespan; ``python -m metering`` calls it with signal
handlers installed (SIGTERM / SIGINT -> drain). Tests (and the api's integration tests)
call it in-process with a ``stop`` event.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.bus import bus_identity
from contracts.streams import ensure_streams
from llmchat_bus.lifespan import Served, serve_until_stopped
from llmchat_bus.rpc import ping_route
from llmchat_sql.cleanup import PeriodicCleanup
from llmchat_sql.database import Database
from llmchat_sql.service import retry_until_ready, run_database_service
from metering.metrics import MeteringMetrics
from metering.migrate import upgrade
from metering.queries import UsageQueries
from metering.recorder import UsageRecorder
from metering.settings import MeteringSettings
from metering.subscribers.events import EventSubscriber
from metering.subscribers.rpc import routes, rpc_server
from metering.tracing import MeteringTracing

CLEANUP_EVERY_S = 3600.0
"""How often records past METERING_USAGE_RETENTION_DAYS are deleted."""
DAY_S = 86_400.0

log = logging.getLogger(__name__)


async def prepare_database(settings: MeteringSettings, db: Database, stop: asyncio.Event) -> bool:
    """Migrate (or just check the database answers), retrying while it is unreachable.
    False if ``stop`` was set first."""

    async def prepare() -> None:
        if settings.migrate:
            await upgrade(db)
        else:
            await db.ping()

    ready = await retry_until_ready(stop, prepare, retry_max_s=settings.db_retry_max_s, log=log)
    if ready:
        log.info("database ready (%s)", db.url.get_backend_name())
    return ready


async def run(
    settings: MeteringSettings,
    stop: asyncio.Event | None = None,
    *,
    install_signal_handlers: bool = False,
    tracing: MeteringTracing | None = None,
) -> int:
    """The service's lifespan. Returns the process exit code. ``tracing`` defaults to what
    the ``OTEL_*`` settings say (tests hand in one over an in-memory exporter)."""
    tracing = tracing or MeteringTracing.from_settings(settings)
    metrics = MeteringMetrics() if settings.metrics_port > 0 else None

    async def serve(db: Database, nc: NatsClient, stop: asyncio.Event) -> int:
        return await _serve(settings, db, nc, stop, metrics, tracing)

    return await run_database_service(
        "metering",
        settings,
        serve,
        stop=stop,
        install_signal_handlers=install_signal_handlers,
        log=log,
        metrics=None if metrics is None else metrics.registry,
        tracing=tracing,
    )


async def _serve(
    settings: MeteringSettings,
    db: Database,
    nc: NatsClient,
    stop: asyncio.Event,
    metrics: MeteringMetrics | None = None,
    tracing: MeteringTracing | None = None,
) -> int:
    js = nc.jetstream()
    await ensure_streams(js, identity=bus_identity(settings.nats_url))
    if not await prepare_database(settings, db, stop):
        log.info("stopped before the database was ready")
        return 0
    rpc = rpc_server(
        nc,
        [*routes(UsageQueries(db)), ping_route(subjects.METERING_PING, db.ping)],
        settings.rpc_concurrency,
        metrics=metrics,
        tracing=tracing,
    )
    recorder = UsageRecorder(db)
    events = EventSubscriber(
        js,
        recorder,
        batch=settings.events_batch,
        poll_s=settings.events_poll_s,
        ack_wait_s=settings.events_ack_wait_s,
        retry_max_s=settings.db_retry_max_s,
        tracing=tracing,
    )
    if metrics is not None:
        metrics.watch_events(events)
    parts: list[Served] = [rpc, events]
    if settings.usage_retention_days > 0:
        retention_s = settings.usage_retention_days * DAY_S
        parts.append(
            PeriodicCleanup(
                f"usage records older than {settings.usage_retention_days:g} days",
                lambda: recorder.remove_older_than(time.time() - retention_s),
                CLEANUP_EVERY_S,
                log,
            )
        )
    try:
        await serve_until_stopped(
            "metering", stop, parts, drain_timeout_s=settings.drain_timeout_s, log=log
        )
    finally:
        log.info(
            "events since start: %d recorded, %d duplicates, %d malformed",
            events.recorded,
            events.duplicates,
            events.terminated,
        )
    return 0
