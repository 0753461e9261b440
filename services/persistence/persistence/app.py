"""The persistence process: NATS, database, migrations, admins, rpc handlers, events.

``run(settings, stop)`` is the whole lifespan; ``python -m persistence`` calls it with
signal handlers installed (SIGTERM / SIGINT -> drain). Tests (and the api's integration
tests) call it in-process with a ``stop`` event.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.bus import bus_identity
from contracts.streams import ensure_streams
from llmchat_bus.lifespan import serve_until_stopped
from llmchat_bus.rpc import ping_route
from llmchat_sql.cleanup import PeriodicCleanup
from llmchat_sql.database import UNAVAILABLE_ERRORS, Database
from llmchat_sql.service import retry_until_ready, run_database_service
from persistence.account_changes import NatsAccountChanges
from persistence.accounts import Accounts
from persistence.conversations import Conversations
from persistence.messages import MessageRecorder
from persistence.metrics import PersistenceMetrics
from persistence.migrate import upgrade
from persistence.settings import PersistenceSettings
from persistence.subscribers.events import EventSubscriber
from persistence.subscribers.rpc import routes, rpc_server
from persistence.tracing import PersistenceTracing

CLEANUP_EVERY_S = 3600.0
"""How often expired refresh tokens are deleted."""

log = logging.getLogger(__name__)


async def prepare_database(
    settings: PersistenceSettings, db: Database, accounts: Accounts, stop: asyncio.Event
) -> bool:
    """Migrate and bootstrap the admins, retrying while the database is unreachable.
    False if ``stop`` was set first."""

    async def prepare() -> None:
        if settings.migrate:
            await upgrade(db)
        else:
            await db.ping()
        if settings.dev_admin:
            await accounts.ensure_dev_admin()
        else:
            await accounts.retire_dev_admin()
        if settings.admin_email and settings.admin_password:
            await accounts.ensure_admin(settings.admin_email, settings.admin_password)

    # Any database error is retried, a refusal too (unlike the default, is_unavailable).
    ready = await retry_until_ready(
        stop,
        prepare,
        retry_max_s=settings.db_retry_max_s,
        log=log,
        retry_on=lambda exc: isinstance(exc, UNAVAILABLE_ERRORS),
    )
    if ready:
        log.info("database ready (%s)", db.url.get_backend_name())
    return ready


async def run(
    settings: PersistenceSettings,
    stop: asyncio.Event | None = None,
    *,
    install_signal_handlers: bool = False,
    tracing: PersistenceTracing | None = None,
) -> int:
    """The service's lifespan. Returns the process exit code. ``tracing`` defaults to what
    the ``OTEL_*`` settings say (tests hand in one over an in-memory exporter)."""
    tracing = tracing or PersistenceTracing.from_settings(settings)
    metrics = PersistenceMetrics() if settings.metrics_port > 0 else None

    async def serve(db: Database, nc: NatsClient, stop: asyncio.Event) -> int:
        return await _serve(settings, db, nc, stop, metrics, tracing)

    return await run_database_service(
        "persistence",
        settings,
        serve,
        stop=stop,
        install_signal_handlers=install_signal_handlers,
        log=log,
        metrics=None if metrics is None else metrics.registry,
        tracing=tracing,
    )


async def _serve(
    settings: PersistenceSettings,
    db: Database,
    nc: NatsClient,
    stop: asyncio.Event,
    metrics: PersistenceMetrics | None = None,
    tracing: PersistenceTracing | None = None,
) -> int:
    js = nc.jetstream()
    await ensure_streams(js, identity=bus_identity(settings.nats_url))
    accounts = Accounts(db, changes=NatsAccountChanges(nc))
    conversations = Conversations(db, reply_bytes=settings.conversation_reply_bytes)
    if not await prepare_database(settings, db, accounts, stop):
        log.info("stopped before the database was ready")
        return 0
    rpc = rpc_server(
        nc,
        [*routes(accounts, conversations), ping_route(subjects.PERSISTENCE_PING, db.ping)],
        settings.rpc_concurrency,
        metrics=metrics,
        tracing=tracing,
    )
    events = EventSubscriber(
        js,
        MessageRecorder(db),
        batch=settings.events_batch,
        poll_s=settings.events_poll_s,
        ack_wait_s=settings.events_ack_wait_s,
        retry_max_s=settings.db_retry_max_s,
        metrics=metrics,
        tracing=tracing,
    )
    expired = PeriodicCleanup(
        "expired refresh tokens", accounts.remove_expired_refresh_tokens, CLEANUP_EVERY_S, log
    )
    await serve_until_stopped(
        "persistence",
        stop,
        [rpc, events, expired],
        drain_timeout_s=settings.drain_timeout_s,
        log=log,
    )
    return 0
