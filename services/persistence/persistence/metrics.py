"""The persistence service's Prometheus metrics and their HTTP endpoint
(``PERSISTENCE_METRICS_PORT``; 0 = none, and nothing is counted).

Names: prefix ``llmchat_persistence_``, base units, ``_total`` counters. Label values are
bounded: event kinds, outcomes, rpc subjects (``contracts.subjects``), error codes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PersistenceMetrics:
    """Every metric family of the persistence service."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.events = Counter(
            "llmchat_persistence_events_total",
            "Lifecycle events consumed, by kind and outcome (stored, duplicate, "
            "no_conversation, ignored, malformed, failed).",
            ("kind", "outcome"),
            registry=registry,
        )
        self.rpc_requests = Counter(
            "llmchat_persistence_rpc_requests_total",
            "Request-reply requests answered, by subject and outcome (ok or an error code).",
            ("subject", "outcome"),
            registry=registry,
        )
        self.rpc_duration = Histogram(
            "llmchat_persistence_rpc_duration_seconds",
            "Time to answer a request-reply request, by subject.",
            ("subject",),
            buckets=RPC_BUCKETS,
            registry=registry,
        )
        self.db_errors = Counter(
            "llmchat_persistence_db_errors_total",
            "Database operations that failed because the database was unavailable, by "
            "operation (events: storing an event, retried; rpc: answering a request).",
            ("operation",),
            registry=registry,
        )

    def event(self, kind: str, outcome: str) -> None:
        self.events.labels(kind, outcome).inc()

    def rpc(self, subject: str, outcome: str, elapsed_s: float) -> None:
        self.rpc_requests.labels(subject, outcome).inc()
        self.rpc_duration.labels(subject).observe(elapsed_s)

    def db_error(self, operation: str) -> None:
        self.db_errors.labels(operation).inc()
