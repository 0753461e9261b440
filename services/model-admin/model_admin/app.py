"""The model-admin process: NATS, streams and buckets, catalog, watchers, rpc handlers.

``run(settings, stop)`` is the whole lifespan; ``python -m model_admin`` calls it with
signal handlers installed (SIGTERM / SIGINT -> drain). Tests call it in-process with a
``stop`` event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from nats.aio.client import Client as NatsClient
from nats.js.kv import KeyValue

from contracts import subjects
from contracts.admin import ActivateProfile, ActivationOutcome, AdminChange
from contracts.bus import bus_identity, redacted
from contracts.streams import WORKER_STATUS_TTL_S, ensure_streams
from llmchat_bus.broker import ServiceBroker
from llmchat_bus.lifespan import connect_or_exit, drain, serve_until_stopped, stop_on_signals
from llmchat_bus.rpc import RpcServer, ping_route
from model_admin.bus import CoreChangeSink, JetStreamCommandBus, KvAliasStore, KvDesiredStore
from model_admin.catalog import Catalog
from model_admin.fleet import Fleet
from model_admin.registry import ProfileError
from model_admin.service import ModelAdmin
from model_admin.settings import ModelAdminSettings
from model_admin.subscribers.heartbeats import HeartbeatMirror
from model_admin.subscribers.operator_commands import OperatorCommands
from model_admin.subscribers.rpc import described as described_rpc
from model_admin.subscribers.rpc import routes, rpc_server
from model_admin.subscribers.swap_statuses import SwapStatuses
from model_admin.subscribers.watch import Watchers

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
        stop_on_signals(stop)
    try:
        catalog = Catalog.load(settings.profiles_dir, settings.overlay_dir)
    except ProfileError as exc:
        log.error("profiles in %s refused: %s", settings.profiles_dir, exc)
        return 2
    log.info(
        "model-admin starting: nats=%s, %d profiles (%s, added in %s)",
        redacted(settings.nats_url),
        len(catalog.registry),
        settings.profiles_dir,
        settings.overlay_dir,
    )
    nc = await connect_or_exit(settings, "model-admin", stop, log)
    if isinstance(nc, int):
        return nc
    try:
        return await _serve(settings, catalog, nc, stop)
    finally:
        # bounded: a KV watcher stopped with messages still queued never drains
        await drain(nc, log, settings.drain_timeout_s)
        if not nc.is_closed:
            await nc.close()
        log.info("model-admin stopped")


async def _serve(
    settings: ModelAdminSettings, catalog: Catalog, nc: NatsClient, stop: asyncio.Event
) -> int:
    js = nc.jetstream()
    await ensure_streams(js, identity=bus_identity(settings.nats_url))
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
    rpc = rpc_server(
        nc, [*routes(admin), ping_route(subjects.ADMIN_PING)], settings.rpc_concurrency
    )
    # One broker per process: the rpc server's carries the heartbeat mirror too.
    mirror = HeartbeatMirror(rpc.broker, worker_kv)
    swap_statuses = SwapStatuses(rpc.broker, admin)
    commands = OperatorCommands(rpc.broker, admin)
    declare_sent(rpc.broker)
    await serve_until_stopped(
        "model-admin",
        stop,
        [watchers, swap_statuses, commands, mirror, rpc],
        drain_timeout_s=settings.drain_timeout_s,
        log=log,
    )
    return 0


def declare_sent(broker: ServiceBroker) -> None:
    """What model-admin publishes with nats-py, for its AsyncAPI document."""
    broker.sends(
        subjects.ADMIN_CHANGES,
        AdminChange,
        "after each change of a profile, alias or desired state.",
    )
    broker.sends(
        subjects.ADMIN_ACTIVATIONS,
        ActivationOutcome,
        "what became of each activation (the command sent, or the refusal), also of one "
        "published without a reply inbox.",
    )
    broker.sends(
        subjects.ADMIN_COMMAND_SUBJECTS,
        ActivateProfile,
        f"JetStream ({subjects.ADMIN_STREAM}), one per activation, de-duplicated by command id.",
    )


def described() -> RpcServer:
    """Model-admin's broker as its AsyncAPI document describes it (``make asyncapi``): the
    rpc server with the heartbeat mirror and what is sent with nats-py; never connected."""
    server = described_rpc()
    HeartbeatMirror(server.broker, cast(KeyValue, None))
    SwapStatuses(server.broker, cast(ModelAdmin, None))
    OperatorCommands(server.broker, cast(ModelAdmin, None))
    declare_sent(server.broker)
    return server
