"""``GET /metrics``: the Prometheus text exposition of the api (no auth)."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST

from chat_api.telemetry.metrics import METRICS_KEY, ApiMetrics


class MetricsController(Controller):
    path = "/metrics"
    tags = ["observability"]
    opt = {"exclude_from_auth": True}
    include_in_schema = False

    @get("/", summary="Prometheus metrics (text exposition format)")
    async def metrics(self, state: State) -> Response[bytes]:
        metrics: ApiMetrics = state[METRICS_KEY]
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
