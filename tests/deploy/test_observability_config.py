"""deploy/prometheus/prometheus.yml and deploy/grafana/llmchat-dashboard.json: they load,
the scrape targets are the ports the embedded stack gives the services, and every metric
the dashboard queries is one the code exports (or vLLM's own)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from prometheus_client import CollectorRegistry

from chat_api.telemetry import ApiMetrics
from chat_api.workers import WorkerRegistry
from inference_worker.metrics import WorkerMetrics
from local_stack.settings import DEFAULT_METRICS_PORT_BASE, StackSettings
from metering.metrics import MeteringMetrics
from metering.subscribers.events import EventSubscriber
from persistence.metrics import PersistenceMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "llmchat-dashboard.json"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
METRIC_NAME = re.compile(r"\b(?:llmchat_[a-z0-9_]+|vllm:[a-z0-9_]+)")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _sample_names(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def exported_names() -> set[str]:
    """Every sample name the api, the worker, persistence and metering can export."""
    api = ApiMetrics()
    api.watch_workers(WorkerRegistry())
    api.watch_queue_depth(dict)
    worker = WorkerMetrics("m", in_flight=lambda: 0, engine_running=lambda: 0)
    metering = MeteringMetrics()
    metering.watch_events(EventSubscriber(cast(Any, None), cast(Any, None)))
    return (
        _sample_names(api.registry)
        | _sample_names(worker.registry)
        | _sample_names(PersistenceMetrics().registry)
        | _sample_names(metering.registry)
    )


def vllm_names() -> set[str] | None:
    """The ``vllm:*`` families vLLM's Prometheus stat logger defines (from its source,
    without importing vLLM); None where vLLM is not installed."""
    spec = importlib.util.find_spec("vllm")
    if spec is None or spec.origin is None:
        return None
    source = (Path(spec.origin).parent / "v1" / "metrics" / "loggers.py").read_text()
    return set(re.findall(r'name="(vllm:[a-z0-9_]+)"', source))


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in document["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def expressions(document: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(document) for t in p.get("targets", [])]


def test_dashboard_loads_and_is_well_formed() -> None:
    document = dashboard()
    assert document["uid"] == "llmchat-overview"
    ids = [p["id"] for p in panels(document)]
    assert len(ids) == len(set(ids))
    for panel in panels(document):
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_dashboard_shows_the_plans_kpis() -> None:
    exprs = expressions(dashboard())
    ttft = [e for e in exprs if "llmchat_api_ttft_seconds_bucket" in e]
    assert any(e.startswith("histogram_quantile(0.5,") for e in ttft)
    assert any(e.startswith("histogram_quantile(0.95,") for e in ttft)
    assert any("llmchat_api_chats_total" in e and "* 60" in e for e in exprs)  # per minute
    assert any('status=~"5.."' in e for e in exprs)  # 5xx error rate
    assert any('outcome!~"stop|length|cancelled"' in e for e in exprs)  # stream errors
    assert any("sum by (model, type) (rate(llmchat_api_tokens_total" in e for e in exprs)
    assert any("llmchat_api_streams_in_flight" in e for e in exprs)
    assert any("llmchat_api_queue_depth" in e for e in exprs)


def test_every_queried_metric_exists_in_the_code() -> None:
    queried = {name for expr in expressions(dashboard()) for name in METRIC_NAME.findall(expr)}
    ours = {name for name in queried if name.startswith("llmchat_")}
    assert len(ours) > 20
    assert ours - exported_names() == set()
    engine = {name for name in queried if name.startswith("vllm:")}
    assert engine, "the dashboard shows the engine's own statistics"
    known = vllm_names()
    if known is None:
        pytest.skip("vLLM is not installed: its metric names cannot be checked")
    assert engine - known == set()


def test_prometheus_scrapes_the_embedded_stack_ports() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {
        name: [t for group in job["static_configs"] for t in group["targets"]]
        for name, job in jobs.items()
    }
    stack = StackSettings(
        data_dir=ROOT / ".data", nats_url=None, metrics_port_base=DEFAULT_METRICS_PORT_BASE
    )

    def port(service: str, index: int = 1) -> str:
        [value] = stack.metrics_env(service, index).values()
        return f"127.0.0.1:{value}"

    assert targets["llmchat-api"] == [f"127.0.0.1:{stack.gateway_port}"]
    assert targets["llmchat-persistence"] == [port("persistence")]
    assert targets["llmchat-metering"] == [port("metering")]
    assert targets["llmchat-workers"] == [port("worker", 1)]
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in jobs.values())
