"""The Prometheus metrics endpoint of a service: ``prometheus_client``'s HTTP server
serving the service's own registry (each service defines its metric families; the
endpoint is the same for all).
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import start_http_server as start_prometheus_server

log = logging.getLogger(__name__)


class MetricsEndpoint:
    """``prometheus_client``'s HTTP server (a daemon thread) on ``host:port``."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self.host = host
        self.port = port
        self._server: Any = None

    def start(self) -> bool:
        """Serve; False (logged) if the port cannot be bound: the service runs on
        without metrics."""
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
