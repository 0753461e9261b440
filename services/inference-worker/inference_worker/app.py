"""The worker process: NATS, streams, heartbeats, engine, subscribers, swaps, drain.

``run(settings)`` is the whole lifespan; ``python -m inference_worker`` calls it with
signal handlers installed (SIGTERM / SIGINT -> drain). Tests call it in-process with a
``stop`` event and, optionally, an engine of their own.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from functools import partial

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

from contracts import subjects
from contracts.admin import SwapStatus
from contracts.bus import bus_identity, redacted
from contracts.events import ChatEvent
from contracts.inference import ChatRequest, Chunk
from contracts.streams import ensure_streams
from contracts.workers import WorkerHardware, WorkerStatus
from inference_worker.engine import Engine, build_engine
from inference_worker.generation import Generation
from inference_worker.hardware import FitCheck, detect_hardware
from inference_worker.heartbeat import Heartbeat
from inference_worker.inflight import InFlight
from inference_worker.metrics import WorkerMetrics
from inference_worker.prompt import PromptBuilder
from inference_worker.settings import SettingsError, WorkerSettings
from inference_worker.sinks import JetStreamEventSink, JetStreamSwapStatusSink, NatsChunkSink
from inference_worker.subscribers.admin import (
    CommandSubscriber,
    check_with_model_admin,
    desired_profile,
    desired_state,
    model_admin_client,
)
from inference_worker.subscribers.cancels import CancelSubscriber
from inference_worker.subscribers.requests import RequestSubscriber
from inference_worker.swap import EngineHost, Swapper
from inference_worker.timeline import TimelineStamps
from inference_worker.tracing import WorkerTracing
from llmchat_bus.broker import ServiceBroker
from llmchat_bus.bus_metrics import bus_metrics
from llmchat_bus.lifespan import connect_or_exit
from llmchat_bus.metrics_endpoint import MetricsEndpoint
from llmchat_bus.outbox import JetStreamOutbox
from llmchat_bus.rpc_client import RpcClient

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0
"""After the drain timeout: how long cancelled generations get to report."""
ENGINE_CHECK_S = 0.5
"""How often the serving engine is asked whether it died (a property read)."""
OUTBOX_CLOSE_S = 10.0
"""At shutdown: how long events still unpublished (JetStream unreachable) may take."""


class Worker:
    """Wires one request to a ``Generation``: the domain function behind the subscriber."""

    def __init__(
        self,
        settings: WorkerSettings,
        nc: NatsClient,
        js: JetStreamContext,
        engine: Engine,
        inflight: InFlight,
        outbox: JetStreamOutbox,
        *,
        metrics: WorkerMetrics | None = None,
        tracing: WorkerTracing | None = None,
    ) -> None:
        self._settings = settings
        self._nc = nc
        self._engine = engine
        self._inflight = inflight
        self._metrics = metrics
        self._tracing = tracing
        self._events = JetStreamEventSink(outbox, propagate_trace=tracing is not None)
        self._prompts: PromptBuilder | None = None

    @property
    def engine(self) -> Engine:
        return self._engine

    def use(self, settings: WorkerSettings, engine: Engine) -> None:
        """Serve with ``engine`` (started) from now on: at start and after each swap."""
        self._settings = settings
        self._engine = engine
        self.engine_ready()

    def engine_ready(self) -> None:
        s = self._settings
        self._prompts = PromptBuilder(
            self._engine.tokenizer,
            fallback_template=s.chat_template,
            max_model_len=s.max_model_len,
            default_max_tokens=s.default_max_tokens,
        )
        log.info(
            "prompts use %s",
            "the tokenizer's chat template"
            if self._prompts.uses_tokenizer_template
            else f"the built-in {s.chat_template!r} template",
        )

    async def take(
        self, request: ChatRequest, stamps: TimelineStamps, taken: asyncio.Future[bool]
    ) -> bool:
        assert self._prompts is not None, "requests are pulled only once the engine is ready"
        generation = Generation(
            request,
            engine=self._engine,
            prompts=self._prompts,
            chunks=NatsChunkSink(self._nc, request),
            events=self._events,
            worker_id=self._settings.worker_id,
            model=self._settings.model,
            stamps=stamps,
            taken=taken,
        )
        reason = self._inflight.cancelled_before_start(request.request_id)
        if reason is not None:
            await generation.skip_cancelled(reason)
            return False
        launch = partial(self._inflight.start, generation)
        task = launch() if self._tracing is None else self._tracing.run(generation, launch)
        if self._metrics is not None:
            self._metrics.watch(generation, task)
        return True


async def _start_engine(engine: Engine, heartbeat: Heartbeat) -> None:
    started = time.monotonic()
    task = asyncio.create_task(engine.start(), name="engine-start")
    while True:
        done, _ = await asyncio.wait({task}, timeout=10.0)
        if done:
            task.result()
            log.info("engine %s ready in %.1fs", engine.name, time.monotonic() - started)
            return
        log.info("engine %s still loading (%.0fs)", engine.name, time.monotonic() - started)
        await heartbeat.set_state("loading", f"loading for {time.monotonic() - started:.0f}s")


async def _hardware(settings: WorkerSettings) -> WorkerHardware | None:
    try:
        return await asyncio.to_thread(detect_hardware, settings)
    except Exception as exc:
        log.warning("hardware unknown (compatibility not checked on this worker): %r", exc)
        return None


async def _start_settings(
    settings: WorkerSettings,
    model_admin: RpcClient,
    js: JetStreamContext,
    fit: FitCheck,
) -> tuple[WorkerSettings, str | None]:
    """What to load first: the group's desired profile if model-admin set one (a restarted
    worker comes back on it), else the env settings; and the command that set it."""
    desired = await desired_state(js, settings.model)
    if desired is None:
        return settings, None
    if desired.profile_id == settings.profile_id:
        return settings, desired.command_id
    found = await desired_profile(model_admin, js, settings.model, desired)
    if found is None:
        log.warning(
            "desired profile %s of group %s unknown here: starting on %s",
            desired.profile_id,
            settings.model,
            settings.profile_id,
        )
        return settings, None
    spec = found.profile
    reason = await fit.refusal(spec, found.checks)
    if reason is None:
        try:
            planned = settings.for_profile(spec)
        except SettingsError as exc:
            reason = str(exc)
        else:
            log.info("group %s desires %s: loading it", settings.model, spec.id)
            return planned, desired.command_id
    log.warning(
        "desired profile %s cannot load here (%s): starting on %s",
        spec.id,
        reason,
        settings.profile_id,
    )
    return settings, None


async def _first_load(host: EngineHost, fallback: WorkerSettings) -> None:
    """Start the engine; if it is the desired profile and fails, the env one instead."""
    try:
        await host.start()
    except Exception:
        if host.settings is fallback:
            raise
        log.exception(
            "desired profile %s failed to load: trying %s", host.profile_id, fallback.profile_id
        )
        await host.unload()
        await host.load(fallback)


async def run(
    settings: WorkerSettings,
    *,
    stop: asyncio.Event | None = None,
    engine: Engine | None = None,
    install_signal_handlers: bool = False,
    tracing: WorkerTracing | None = None,
    engine_factory: Callable[[WorkerSettings], Engine] = build_engine,
) -> int:
    """The worker's lifespan. Returns the process exit code. ``tracing`` defaults to what
    the ``OTEL_*`` settings say (tests hand in one over an in-memory exporter).
    ``engine_factory`` builds the engine of a profile a swap (or the desired state at
    start) loads; ``engine``, if given, is the one for ``settings``."""
    stop = stop or asyncio.Event()
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    engine = engine or engine_factory(settings)
    log.info(
        "worker %s starting: model=%s engine=%s capacity=%d nats=%s",
        settings.worker_id,
        settings.model,
        engine.name,
        settings.capacity,
        redacted(settings.nats_url),
    )
    nc = await connect_or_exit(settings, f"inference-worker:{settings.worker_id}", stop, log)
    if isinstance(nc, int):
        return nc
    js = nc.jetstream()
    inflight = InFlight(settings.capacity)
    tracing = tracing or WorkerTracing.from_settings(settings)
    metrics: WorkerMetrics | None = None
    endpoint: MetricsEndpoint | None = None
    if settings.metrics_port > 0:
        metrics = WorkerMetrics(
            settings.model,
            in_flight=inflight.__len__,
            engine_running=lambda: host.engine.running,
            engine_stats=settings.engine_stats and engine.name == "vllm",
        )
        endpoint = MetricsEndpoint(metrics.registry, settings.metrics_host, settings.metrics_port)
        endpoint.start()
    outbox = JetStreamOutbox(js, log=log)
    worker = Worker(settings, nc, js, engine, inflight, outbox, metrics=metrics, tracing=tracing)
    broker = worker_broker(nc, metrics.registry if metrics is not None else None)
    cancels = CancelSubscriber(broker, inflight)
    requests = RequestSubscriber(
        js,
        model=settings.model,
        inflight=inflight,
        take=worker.take,
        trace_context=tracing is not None,
        pullers=settings.request_pullers,
    )
    heartbeat = Heartbeat(
        nc,
        worker_id=settings.worker_id,
        model=settings.model,
        engine=engine.name,
        capacity=settings.capacity,
        interval_s=settings.heartbeat_s,
        in_flight=inflight.__len__,
        profile_id=settings.profile_id,
        queue_depth=requests.pending,
    )

    def loaded(loaded_settings: WorkerSettings, loaded_engine: Engine) -> None:
        worker.use(loaded_settings, loaded_engine)
        if not inflight.resize(loaded_settings.capacity):
            log.warning("capacity stays %d: generations still running", inflight.capacity)
        heartbeat.capacity = inflight.capacity
        heartbeat.engine = loaded_engine.name
        heartbeat.profile_id = loaded_settings.profile_id

    host = EngineHost(
        settings,
        engine,
        factory=engine_factory,
        start=partial(_start_engine, heartbeat=heartbeat),
        loaded=loaded,
    )
    model_admin = model_admin_client(nc, propagate_trace=tracing is not None)
    fit = FitCheck(lambda: heartbeat.hardware, partial(check_with_model_admin, model_admin))
    swapper = Swapper(
        worker_id=settings.worker_id,
        group=settings.model,
        host=host,
        intake=requests,
        inflight=inflight,
        state=heartbeat,
        statuses=JetStreamSwapStatusSink(js, settings.worker_id),
        compatibility=lambda command: fit.refusal(command.profile, command.checks),
    )
    commands = CommandSubscriber(
        broker, group=settings.model, apply=swapper.apply, refuse=swapper.refuse_unreadable
    )
    exit_code = 0
    engine_started = False
    try:
        await ensure_streams(js, identity=bus_identity(settings.nats_url))
        heartbeat.hardware = await _hardware(settings)
        heartbeat.start()
        await heartbeat.set_state("loading")
        # Cancels first: a cancel for a request still queued is remembered meanwhile.
        await cancels.start()
        # Commands before the desired state is read: none falls between the two.
        await commands.start()
        start_settings, command_id = await _start_settings(settings, model_admin, js, fit)
        if command_id is not None:
            swapper.mark_applied(command_id)
            heartbeat.command_id = command_id
        if start_settings is not settings:
            host.settings, host.engine = start_settings, engine_factory(start_settings)
        engine_task = asyncio.create_task(_first_load(host, settings))
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({engine_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if not engine_task.done():  # stopped while loading
            engine_task.cancel()
            await asyncio.gather(engine_task, return_exceptions=True)
            log.info("stopped while the engine was loading")
        else:
            try:
                engine_task.result()
            except Exception as exc:
                log.exception("engine failed to start")
                await heartbeat.set_state("failed", f"engine start failed: {exc!r}"[:500])
                exit_code = 1
            else:
                engine_started = True
                await requests.start()
                await heartbeat.set_state("ready")
                commands.start_applying()
                failure = await _until_stopped_or_engine_failed(stop_task, host)
                if failure is not None:
                    log.error(
                        "engine failed: %s; the worker stops (exit 1) for its supervisor "
                        "to restart it",
                        failure,
                    )
                    await heartbeat.set_state("failed", f"engine failed: {failure}"[:500])
                    exit_code = 1
        stop_task.cancel()
        await commands.stop()  # a swap under way is abandoned: the worker is stopping
        if engine_started and exit_code == 0:
            await _drain(settings, heartbeat, requests, inflight)
        elif engine_started:
            await _abandon(requests, inflight)
    finally:
        await commands.stop()
        await cancels.stop()
        if exit_code == 0:
            await heartbeat.set_state("stopped")
        await heartbeat.stop()
        try:
            await host.engine.shutdown()
        except Exception:
            log.exception("engine shutdown failed")
        await outbox.close(OUTBOX_CLOSE_S)
        try:
            await nc.drain()
        except Exception as exc:
            log.debug("nats drain: %r", exc)
        if endpoint is not None:
            endpoint.stop()
        if tracing is not None:
            tracing.shutdown()
    log.info("worker %s stopped", settings.worker_id)
    return exit_code


def worker_broker(nc: NatsClient, metrics: CollectorRegistry | None = None) -> ServiceBroker:
    """The worker's FastStream broker (the cancel subscriber and the group's admin
    commands are on it), with what the worker publishes with nats-py declared for its
    AsyncAPI document. Kept on nats-py: the slot-gated request puller (a request is
    fetched only when an engine slot is free, which no FastStream subscriber does), the
    chunks (one publish per token: no framework on that path), the heartbeats, events and
    swap statuses."""
    broker = ServiceBroker(nc, middlewares=bus_metrics(metrics, "inference-worker"))
    broker.sends(subjects.CHUNK_SUBJECTS, Chunk, "one per token, on the request's chunk subject.")
    broker.sends(subjects.HEARTBEAT_SUBJECTS, WorkerStatus, "every heartbeat interval, core NATS.")
    broker.sends(
        subjects.EVENT_SUBJECTS,
        ChatEvent,
        f"JetStream ({subjects.EVENTS_STREAM}), through the outbox.",
    )
    broker.sends(
        subjects.ADMIN_STATUS_SUBJECTS, SwapStatus, f"JetStream ({subjects.ADMIN_STREAM})."
    )
    return broker


def described() -> ServiceBroker:
    """The worker's broker as its AsyncAPI document describes it (``make asyncapi``):
    never connected, nothing started."""
    broker = worker_broker(NatsClient())
    CancelSubscriber(broker, InFlight(1))
    CommandSubscriber(broker, group="GROUP", apply=_never_applied)  # its served model name
    return broker


async def _never_applied(command: object) -> None:
    raise AssertionError("a described broker runs nothing")


async def _until_stopped_or_engine_failed(
    stop_task: asyncio.Task[object], host: EngineHost
) -> str | None:
    """Serve until ``stop`` is set (None) or the serving engine reports a failure (it)."""
    while True:
        failure = host.engine.failure
        if failure is not None:
            return failure
        done, _ = await asyncio.wait({stop_task}, timeout=ENGINE_CHECK_S)
        if done:
            return None


async def _abandon(requests: RequestSubscriber, inflight: InFlight) -> None:
    """The engine is dead: take nothing more (what is queued waits for a live worker);
    generations in hand fail on their own with ``engine_error``, the rest are cancelled."""
    await requests.stop()
    if not await inflight.wait_idle(CANCEL_GRACE_S):
        inflight.cancel_all("shutdown")
        if not await inflight.wait_idle(CANCEL_GRACE_S):
            log.error("%d generation(s) did not stop", len(inflight))


async def _drain(
    settings: WorkerSettings, heartbeat: Heartbeat, requests: RequestSubscriber, inflight: InFlight
) -> None:
    await heartbeat.set_state("draining", f"{len(inflight)} in flight")
    await requests.stop()
    if not await inflight.wait_idle(settings.drain_timeout_s):
        count = inflight.cancel_all("shutdown")
        log.warning(
            "drain timeout (%.0fs): cancelling %d generation(s)", settings.drain_timeout_s, count
        )
        if not await inflight.wait_idle(CANCEL_GRACE_S):
            log.error("%d generation(s) did not stop", len(inflight))
