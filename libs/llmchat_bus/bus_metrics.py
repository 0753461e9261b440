"""FastStream's Prometheus middleware on a service's broker: per subject family, the
messages each subscriber received and processed, how long they took, their size, how many
are in process, the exceptions, and what its publishers sent
(``llmchat_bus_received_messages_total{app_name, broker, handler}`` and its siblings).

FastStream labels ``handler`` with the message's own subject; on a wildcard subscription
that is one subject per chat (relay cancels, relay watches) or per worker (heartbeats),
a new time series for every chat. Here the label is the subject's family
(``contracts.subjects.subject_family``), so the series stay bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.nats.prometheus.provider import (
    BatchNatsMetricsSettingsProvider,
    NatsMetricsSettingsProvider,
)
from faststream.prometheus import ConsumeAttrs, PrometheusMiddleware
from nats.aio.msg import Msg
from prometheus_client import CollectorRegistry

from contracts.subjects import subject_family

METRICS_PREFIX = "llmchat_bus"


class _ByFamily:
    """Puts the subject family in place of the subject (before a FastStream provider)."""

    def get_consume_attrs_from_message(self, msg: Any) -> ConsumeAttrs:
        attrs: ConsumeAttrs = super().get_consume_attrs_from_message(msg)  # type: ignore[misc]
        attrs["destination_name"] = subject_family(attrs["destination_name"])
        return attrs

    def get_publish_destination_name_from_cmd(self, cmd: Any) -> str:
        destination: str = super().get_publish_destination_name_from_cmd(cmd)  # type: ignore[misc]
        return subject_family(destination)


class _FamilyLabels(_ByFamily, NatsMetricsSettingsProvider):
    pass


class _BatchFamilyLabels(_ByFamily, BatchNatsMetricsSettingsProvider):
    pass


def _labels(
    msg: Msg | Sequence[Msg] | None,
) -> _FamilyLabels | _BatchFamilyLabels | None:
    if isinstance(msg, Sequence):
        return _BatchFamilyLabels()
    if isinstance(msg, Msg) or msg is None:
        return _FamilyLabels()
    return None  # a KV or object store entry: not counted


def bus_metrics(registry: CollectorRegistry | None, service: str) -> tuple[Any, ...]:
    """The middleware counting into ``registry`` (the service's ``/metrics``), labelled
    ``app_name=service``; none when the service exports no metrics."""
    if registry is None:
        return ()
    middleware: PrometheusMiddleware[Any, Any] = PrometheusMiddleware(
        settings_provider_factory=_labels,
        registry=registry,
        app_name=service,
        metrics_prefix=METRICS_PREFIX,
    )
    return (middleware,)
