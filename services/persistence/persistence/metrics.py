"""The persistence service's Prometheus metrics and their HTTP endpoint
(``PERSISTENCE_METRICS_PORT``; 0 = none, and nothing is counted).

Names: prefix ``llmchat_persistence_``, base units, ``_total`` counters. Label values are
bounded: event kinds, outcomes, rpc subjects (``contracts.subjects``), error codes.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import start_http_server as start_prometheus_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

log = logging.getLogger(__name__)

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


class MetricsEndpoint:
    """``prometheus_client``'s HTTP server (a daemon thread) on ``host:port``."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self.host = host
        self.port = port
        self._server: Any = None

    def start(self) -> bool:
        """Serve; False (logged) if the port cannot be bound: the service runs on."""
        try:
            self._server, _thread = start_prometheus_server(
                self.port, addr=self.host, registry=self._registry
            )
        except OSError as exc:
            log.error("metrics endpoint %s:%d not started: %r", self.host, self.port, exc)
            return False
        log.info("metrics at http://%s:%d/metrics", self.host, self.port)
        return True

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()
