"""The worker's Prometheus metrics and their HTTP endpoint (``WORKER_METRICS_PORT``).

Names: prefix ``llmchat_worker_``, base units, ``_total`` counters. The worker's own
families live in a registry of their own; vLLM's statistics (``vllm:*``: running /
waiting requests, KV-cache usage, its own TTFT and token counters...) are kept by vLLM in
the process-global registry once the engine is built with its Prometheus stat logger
(``WorkerSettings.engine_stats``) and are served from the same endpoint.

Nothing here runs per token: a generation is observed once, when it ends, from what it
recorded (``Generation.first_token_at`` / ``usage`` / ``outcome``); gauges are read at
scrape time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from inference_worker.generation import Generation

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TPOT_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ENGINE_PREFIX = "vllm:"


class WorkerMetrics:
    """Every metric family of one worker (one model)."""

    def __init__(
        self,
        model: str,
        *,
        in_flight: Callable[[], int],
        engine_running: Callable[[], int] | None = None,
        engine_stats: bool = False,
    ) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        if engine_stats:
            registry.register(EngineStatsCollector())
        Gauge(
            "llmchat_worker_generations_in_flight",
            "Generations running on this worker.",
            ("model",),
            registry=registry,
        ).labels(model).set_function(in_flight)
        if engine_running is not None:
            Gauge(
                "llmchat_worker_engine_requests_running",
                "Requests the engine has not finished (as the engine counts them).",
                ("model",),
                registry=registry,
            ).labels(model).set_function(engine_running)
        self.queue_wait = Histogram(
            "llmchat_worker_queue_wait_seconds",
            "From the api accepting a request (its created_at) to this worker taking it.",
            ("model",),
            buckets=QUEUE_BUCKETS,
            registry=registry,
        ).labels(model)
        self.ttft = Histogram(
            "llmchat_worker_ttft_seconds",
            "From this worker taking a request to its first token (prompt, prefill).",
            ("model",),
            buckets=TTFT_BUCKETS,
            registry=registry,
        ).labels(model)
        self.tpot = Histogram(
            "llmchat_worker_time_per_output_token_seconds",
            "Mean time per generated token after the first, per generation.",
            ("model",),
            buckets=TPOT_BUCKETS,
            registry=registry,
        ).labels(model)
        self.duration = Histogram(
            "llmchat_worker_generation_duration_seconds",
            "From this worker taking a request to the end of its generation.",
            ("model",),
            buckets=DURATION_BUCKETS,
            registry=registry,
        ).labels(model)
        self.prompt_tokens = Counter(
            "llmchat_worker_prompt_tokens_total",
            "Prompt tokens of the generations that ended.",
            ("model",),
            registry=registry,
        ).labels(model)
        self.generated_tokens = Counter(
            "llmchat_worker_generated_tokens_total",
            "Tokens generated (completion tokens of the generations that ended).",
            ("model",),
            registry=registry,
        ).labels(model)
        self._finished = Counter(
            "llmchat_worker_generations_finished_total",
            "Generations that ended, by reason: stop, length, cancelled, or an error code.",
            ("model", "reason"),
            registry=registry,
        )
        self._model = model

    def watch(self, generation: Generation, task: asyncio.Task[None]) -> None:
        """Observe ``generation`` (just taken, running as ``task``) when it ends."""
        taken_at = time.time()
        self.queue_wait.observe(max(0.0, taken_at - generation.request.created_at))
        task.add_done_callback(lambda _task: self.finished(generation, taken_at))

    def finished(self, generation: Generation, taken_at: float) -> None:
        end = time.time()
        self.duration.observe(max(0.0, end - taken_at))
        self._finished.labels(self._model, generation.outcome or "unknown").inc()
        first = generation.first_token_at
        if first:
            self.ttft.observe(max(0.0, first - taken_at))
        usage = generation.usage
        if usage is None:
            return
        self.prompt_tokens.inc(usage.prompt_tokens)
        self.generated_tokens.inc(usage.completion_tokens)
        if first and usage.completion_tokens > 1:
            self.tpot.observe(max(0.0, end - first) / (usage.completion_tokens - 1))


class EngineStatsCollector(Collector):
    """vLLM's own families (``vllm:*``) from the process-global registry, where vLLM's
    ``PrometheusStatLogger`` registers them when the engine is built."""

    def __init__(self, source: CollectorRegistry = REGISTRY) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        for family in self._source.collect():
            if family.name.startswith(ENGINE_PREFIX):
                yield family
