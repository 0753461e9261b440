"""The api's Prometheus metrics, in a registry of its own (one per app).

Names follow the Prometheus conventions: prefix ``llmchat_api_``, base units (seconds),
``_total`` counters. Label values are bounded: route TEMPLATES (not paths), the
``MODELS`` whitelist, roles, error codes.

The chat path binds its labelled children once per request (``StreamObserver``); nothing
here runs per token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from contracts.inference import Usage

if TYPE_CHECKING:
    from litestar.types import Scope

    from chat_api.limits.load import LoopLag
    from chat_api.workers import WorkerRegistry

METRICS_KEY = "metrics"
"""App state key of the ``ApiMetrics`` (absent / None: metrics off)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Stages of the first token go from a tenth of a millisecond (a hand-over) to seconds
(the engine's prefill)."""

SUCCESS_OUTCOMES = frozenset({"stop", "length"})
"""Chat outcomes that are answers; ``cancelled`` (by the client) is neither an answer nor
an error; every other outcome is an error code."""
NOT_ERRORS = SUCCESS_OUTCOMES | {"cancelled"}


class ApiMetrics:
    """Every metric family of the api."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.http_requests = Counter(
            "llmchat_api_http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ("route", "method", "status"),
            registry=registry,
        )
        self.http_duration = Histogram(
            "llmchat_api_http_request_duration_seconds",
            "Time from receiving an HTTP request to the end of its response (a chat stream "
            "ends with its last event).",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "llmchat_api_errors_total",
            "Errors returned, by code: source=http for error responses, source=stream for "
            "chats that ended in an error event.",
            ("code", "source"),
            registry=registry,
        )
        self.chats = Counter(
            "llmchat_api_chats_total",
            "Chats relayed, by model and outcome (stop, length, cancelled, or an error code).",
            ("model", "outcome"),
            registry=registry,
        )
        self.ttft = Histogram(
            "llmchat_api_ttft_seconds",
            "Time to first token as the api sees it: from the chat request reaching the chat "
            "service to the first token arriving from the worker.",
            ("model",),
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.first_token_stages = Histogram(
            "llmchat_api_first_token_stage_seconds",
            "Time to first token by stage, for streamed chats that reached their end (stages: "
            "http_in, accept, publish, to_worker, worker_ack, prompt, engine, worker_send, to_api, "
            "api_write, ttft; see chat_api.telemetry.timeline).",
            ("model", "stage"),
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "llmchat_api_tokens_total",
            "Tokens of relayed chats by model, the caller's role and type (input = prompt, "
            "output = completion), from the usage the worker reports.",
            ("model", "user_role", "type"),
            registry=registry,
        )
        self.streams_in_flight = Gauge(
            "llmchat_api_streams_in_flight",
            "Chats this api instance is relaying right now.",
            ("model",),
            registry=registry,
        )

    def stream(self, model: str, user_role: str, started: float) -> StreamObserver:
        """The observer of one chat (``started``: ``time.monotonic()`` at its start)."""
        return StreamObserver(self, model, user_role, started)

    def watch_workers(self, workers: WorkerRegistry) -> None:
        """Export the worker registry (workers, capacity, in flight) at each scrape."""
        self.registry.register(WorkerRegistryCollector(workers))

    def watch_queue_depth(self, depths: QueueDepthSource) -> None:
        """Export ``depths()`` (model -> requests waiting) as ``llmchat_api_queue_depth``."""
        self.registry.register(QueueDepthCollector(depths))

    def watch_loop_lag(self, load: LoopLag) -> None:
        """Export ``load.lag_s`` as ``llmchat_api_event_loop_lag_seconds``."""
        Gauge(
            "llmchat_api_event_loop_lag_seconds",
            "How late the api's event loop runs its timers, a moving average: past "
            "API_MAX_LOOP_LAG_MS new chats get 503 overloaded.",
            registry=self.registry,
        ).set_function(lambda: load.lag_s)
        Gauge(
            "llmchat_api_stream_bound",
            "The most streams this api instance admits now, set by its event loop lag "
            "(0: no bound yet).",
            registry=self.registry,
        ).set_function(lambda: load.stream_bound or 0)

    def render(self) -> bytes:
        """The text exposition format of every family."""
        return generate_latest(self.registry)


class StreamObserver:
    """One chat's metrics: children bound at start; first token, end and close are each
    observed once."""

    __slots__ = (
        "_ended",
        "_in_flight",
        "_input",
        "_metrics",
        "_model",
        "_output",
        "_started",
        "_ttft",
    )

    def __init__(self, metrics: ApiMetrics, model: str, user_role: str, started: float) -> None:
        self._metrics = metrics
        self._model = model
        self._started = started
        self._ttft = metrics.ttft.labels(model)
        self._input = metrics.tokens.labels(model, user_role, "input")
        self._output = metrics.tokens.labels(model, user_role, "output")
        self._in_flight = metrics.streams_in_flight.labels(model)
        self._in_flight.inc()
        self._ended = False

    def first_token(self, at: float) -> None:
        """The first token arrived at ``at`` (``time.monotonic()``)."""
        self._ttft.observe(max(0.0, at - self._started))

    def first_token_stages(self, stages: Mapping[str, float]) -> None:
        """The chat's time to first token by stage (milliseconds, see ``timeline``)."""
        histogram = self._metrics.first_token_stages
        for stage, ms in stages.items():
            histogram.labels(self._model, stage).observe(max(0.0, ms) / 1000.0)

    def ended(self, outcome: str, usage: Usage | None = None) -> None:
        """The chat ended: ``stop`` / ``length``, ``cancelled`` or an error code."""
        if self._ended:
            return
        self._ended = True
        metrics = self._metrics
        metrics.chats.labels(self._model, outcome).inc()
        if outcome not in NOT_ERRORS:
            metrics.errors.labels(outcome, "stream").inc()
        if usage is not None:
            self._input.inc(usage.prompt_tokens)
            self._output.inc(usage.completion_tokens)

    def closed(self) -> None:
        """The relay let go of the chat (a chat closed without an end was abandoned by
        its client: ``cancelled``)."""
        if not self._ended:
            self.ended("cancelled")
        self._in_flight.dec()


def count_error(scope: Scope, code: str) -> None:
    """Count an error response (``errors.error_response`` calls it for every error body)."""
    app: Any = scope.get("litestar_app")
    metrics: ApiMetrics | None = None if app is None else app.state.get(METRICS_KEY)
    if metrics is not None:
        metrics.errors.labels(code, "http").inc()


class WorkerRegistryCollector(Collector):
    """``llmchat_api_workers`` / ``_worker_slots`` from the heartbeats the api has seen."""

    def __init__(self, workers: WorkerRegistry) -> None:
        self._workers = workers

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        workers = GaugeMetricFamily(
            "llmchat_api_workers",
            "Live inference workers the api knows of, by model and state.",
            labels=("model", "state"),
        )
        slots = GaugeMetricFamily(
            "llmchat_api_worker_slots",
            "Generation slots of the live workers by model: kind=capacity or in_flight.",
            labels=("model", "kind"),
        )
        counts: dict[tuple[str, str], int] = {}
        capacity: dict[str, int] = {}
        in_flight: dict[str, int] = {}
        for view in self._workers.views():
            if not view.live:
                continue
            key = (view.model, view.state)
            counts[key] = counts.get(key, 0) + 1
            capacity[view.model] = capacity.get(view.model, 0) + view.capacity
            in_flight[view.model] = in_flight.get(view.model, 0) + view.in_flight
        for (model, state), count in counts.items():
            workers.add_metric((model, state), count)
        for model, value in capacity.items():
            slots.add_metric((model, "capacity"), value)
            slots.add_metric((model, "in_flight"), in_flight[model])
        yield workers
        yield slots

    def _families(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("llmchat_api_workers", "", labels=("model", "state"))
        yield GaugeMetricFamily("llmchat_api_worker_slots", "", labels=("model", "kind"))


QueueDepthSource = Callable[[], Mapping[str, int]]
"""Returns ``{model: requests waiting}`` (the latest known depths; cheap, no I/O)."""


class QueueDepthCollector(Collector):
    """``llmchat_api_queue_depth``: requests waiting in each model's work queue."""

    def __init__(self, depths: QueueDepthSource) -> None:
        self._depths = depths

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("llmchat_api_queue_depth", "", labels=("model",))

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "llmchat_api_queue_depth",
            "Chat requests waiting in the model's work queue (not yet taken by a worker).",
            labels=("model",),
        )
        for model, depth in sorted(self._depths().items()):
            family.add_metric((model,), depth)
        yield family
