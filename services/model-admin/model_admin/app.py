"""The model-admin process: NATS, streams and buckets, catalog, watchers, rpc handlers.

``run(settings, stop)`` is the whole lifespan; ``python -m model_admin`` calls it with
signal handlers installed (SIGTERM / SIGINT -> drain). Tests call it in-process with a
``stop`` event.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.bus import connect
from contracts.streams import WORKER_STATUS_TTL_S, ensure_streams
from model_admin.bus import CoreChangeSink, JetStreamCommandBus, KvAliasStore, KvDesiredStore
from model_admin.catalog import Catalog
from model_admin.fleet import Fleet
from model_admin.registry import ProfileError
from model_admin.service import ModelAdmin
from model_admin.settings import ModelAdminSettings
from model_admin.subscribers.heartbeats import HeartbeatMirror
from model_admin.subscribers.rpc import routes, rpc_server
from model_admin.subscribers.watch import Watchers
from nats_service.rpc import ping_route

log = logging.getLogger(__name__)


async def run(
    settings: ModelAdminSettings,
    stop: asyncio.Event | None = None,
    *,
    install_signal_handlers: bool = False,
) -> int:
    """The service's lifespan. Returns the process exit code."""
    stop = stop or asyncio.Event()
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        catalog = Catalog.load(settings.profiles_dir, settings.overlay_dir)
    except ProfileError as exc:
        log.error("profiles in %s refused: %s", settings.profiles_dir, exc)
        return 2
    log.info(
        "model-admin starting: nats=%s, %d profiles (%s, added in %s)",
        settings.nats_url,
        len(catalog.registry),
        settings.profiles_dir,
        settings.overlay_dir,
    )
    try:
        nc = await connect(settings.nats_url, "model-admin", stop, settings.nats_connect_timeout_s)
    except Exception as exc:
        log.error(
            "NATS at %s not reachable within %.0fs: %r",
            settings.nats_url,
            settings.nats_connect_timeout_s,
            exc,
        )
        return 1
    if nc is None:
        log.info("stopped before NATS was reachable")
        return 0
    try:
        return await _serve(settings, catalog, nc, stop)
    finally:
        try:
            # bounded: a KV watcher stopped with messages still queued never drains
            await asyncio.wait_for(nc.drain(), settings.drain_timeout_s)
        except Exception as exc:
            log.debug("nats drain: %r", exc)
        if not nc.is_closed:
            await nc.close()
        log.info("model-admin stopped")


async def _serve(
    settings: ModelAdminSettings, catalog: Catalog, nc: NatsClient, stop: asyncio.Event
) -> int:
    js = nc.jetstream()
    await ensure_streams(js)
    desired_kv = await js.key_value(subjects.DESIRED_STATE_BUCKET)
    worker_kv = await js.key_value(subjects.WORKER_STATUS_BUCKET)
    aliases_kv = await js.key_value(subjects.MODEL_ALIASES_BUCKET)
    changes = CoreChangeSink(nc)
    admin = ModelAdmin(
        catalog,
        Fleet(settings.gone_after_intervals, forget_after_s=WORKER_STATUS_TTL_S),
        desired=KvDesiredStore(desired_kv),
        aliases=KvAliasStore(aliases_kv),
        commands=JetStreamCommandBus(js),
        changes=changes,
        default_group=settings.default_group,
        drain_timeout_s=settings.command_drain_timeout_s,
    )
    watchers = Watchers(
        js,
        admin,
        changes,
        worker_kv=worker_kv,
        desired_kv=desired_kv,
        aliases_kv=aliases_kv,
        sweep_interval_s=settings.sweep_interval_s,
    )
    mirror = HeartbeatMirror(nc, worker_kv)
    rpc = rpc_server(
        nc, [*routes(admin), ping_route(subjects.ADMIN_PING)], settings.rpc_concurrency
    )
    await watchers.start()
    await mirror.start()
    await rpc.start()
    log.info("model-admin ready")
    try:
        await stop.wait()
    finally:
        log.info("draining")
        await rpc.stop(settings.drain_timeout_s)
        await mirror.stop()
        await watchers.stop()
    return 0
