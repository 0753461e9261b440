"""``on_request``: core NATS request-reply on ``USAGE_SUMMARY`` / ``USAGE_RECORDS``, queue
group ``METERING_QUEUE``.

One route per subject: decode the request Struct, call one ``UsageQueries`` method, reply
``Reply(ok=...)`` or ``Reply(error=RpcError(code, message))`` (``llmchat_bus.rpc``). A
malformed payload is ``invalid_request``; a database outage is ``service_unavailable``;
anything else is ``internal_error`` (logged). Each request runs in its own task (at most
``concurrency`` at once).
"""

from __future__ import annotations

from typing import cast

from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.usage import ListUsageRecords, UsageQuery
from llmchat_bus.rpc import Route, RpcServer, ping_route, route
from llmchat_sql.database import is_unavailable
from metering.metrics import MeteringMetrics
from metering.queries import UsageQueries
from metering.tracing import MeteringTracing


def routes(queries: UsageQueries) -> list[Route]:
    """Subject -> (request Struct, domain function). The reply's ``ok`` is what it returns."""
    return [
        route(subjects.USAGE_SUMMARY, UsageQuery, queries.summary),
        route(subjects.USAGE_RECORDS, ListUsageRecords, queries.records),
    ]


def rpc_server(
    nc: NatsClient,
    routes: list[Route],
    concurrency: int = 16,
    *,
    metrics: MeteringMetrics | None = None,
    tracing: MeteringTracing | None = None,
) -> RpcServer:
    def answered(subject: str, _outcome: str, elapsed_s: float) -> None:
        assert metrics is not None
        metrics.rpc(subject, elapsed_s)

    return RpcServer(
        nc,
        routes,
        queue=subjects.METERING_QUEUE,
        concurrency=concurrency,
        unavailable=is_unavailable,
        on_answered=answered if metrics is not None else None,
        tracing=tracing,
        metrics=metrics.registry if metrics is not None else None,
    )


def described() -> RpcServer:
    """The server as its AsyncAPI document describes it (``make asyncapi``): never
    connected and its routes never called, so the domain classes stand in for their
    objects (each reply's type is read from the method's annotations)."""
    stand_in = cast(UsageQueries, UsageQueries)
    return rpc_server(NatsClient(), [*routes(stand_in), ping_route(subjects.METERING_PING)])
