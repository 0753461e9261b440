"""The metering service's Prometheus metrics and their HTTP endpoint
(``METERING_METRICS_PORT``; 0 = none, and nothing is kept).

Names: prefix ``llmchat_metering_``, base units, ``_total`` counters. The events counters
are the consumer's own tallies, read at scrape time (nothing added to the event path).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from metering.subscribers.events import EventSubscriber

RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MeteringMetrics:
    """Every metric family of the metering service."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.rpc_requests = Counter(
            "llmchat_metering_rpc_requests_total",
            "Usage queries answered, by subject.",
            ("subject",),
            registry=registry,
        )
        self.rpc_duration = Histogram(
            "llmchat_metering_rpc_duration_seconds",
            "Time to answer a usage query, by subject.",
            ("subject",),
            buckets=RPC_BUCKETS,
            registry=registry,
        )

    def watch_events(self, events: EventSubscriber) -> None:
        """Export the consumer's tallies (``llmchat_metering_events_total``)."""
        self.registry.register(EventTallyCollector(events))

    def rpc(self, subject: str, elapsed_s: float) -> None:
        self.rpc_requests.labels(subject).inc()
        self.rpc_duration.labels(subject).observe(elapsed_s)


class EventTallyCollector(Collector):
    def __init__(self, events: EventSubscriber) -> None:
        self._events = events

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily("llmchat_metering_events", "", labels=("outcome",))

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "llmchat_metering_events",
            "Lifecycle events consumed since start, by outcome: recorded (created or changed "
            "a usage record), duplicate (already recorded), malformed (terminated).",
            labels=("outcome",),
        )
        family.add_metric(("recorded",), self._events.recorded)
        family.add_metric(("duplicate",), self._events.duplicates)
        family.add_metric(("malformed",), self._events.terminated)
        yield family
