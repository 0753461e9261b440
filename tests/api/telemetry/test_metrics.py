"""``GET /metrics`` of the api over a ``FakeGateway``: the exposition parses with
prometheus-client's own parser, and chats, errors and HTTP requests move the numbers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from contracts.inference import ChatRequest, Chunk, StreamError, StreamStarted
from tests.api.fake_gateway import FakeGateway, answer

BODY = {"messages": [{"role": "user", "content": "hi there"}], "max_tokens": 16}

API_FAMILIES = {
    "llmchat_api_http_requests": "counter",
    "llmchat_api_http_request_duration_seconds": "histogram",
    "llmchat_api_errors": "counter",
    "llmchat_api_chats": "counter",
    "llmchat_api_ttft_seconds": "histogram",
    "llmchat_api_tokens": "counter",
    "llmchat_api_streams_in_flight": "gauge",
    "llmchat_api_workers": "gauge",
    "llmchat_api_worker_slots": "gauge",
    "process_cpu_seconds": "counter",
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient[Any]) -> tuple[dict[str, str], Samples]:
    """(family -> type, (sample name, labels) -> value) of ``GET /metrics``, no auth."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        families[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metrics_client(settings: ApiSettings, fake_gateway: FakeGateway) -> Iterator[TestClient[Any]]:
    service = ChatService(settings, fake_gateway, StreamTable())
    with TestClient(
        app=create_app(settings, chat_service=service), raise_server_exceptions=False
    ) as client:
        yield client


def test_metrics_endpoint_lists_the_families(metrics_client: TestClient[Any]) -> None:
    families, samples = scrape(metrics_client)
    for name, kind in API_FAMILIES.items():
        assert families.get(name) == kind, name
    # The worker registry is exported at each scrape: the fake gateway's live worker.
    assert value(samples, "llmchat_api_workers", model="gemma3-270m", state="ready") == 1
    assert value(samples, "llmchat_api_worker_slots", model="gemma3-270m", kind="capacity") == 4


def test_a_chat_moves_the_numbers(
    metrics_client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    fake_gateway.script = answer("Hel", "lo", " world")
    _, before = scrape(metrics_client)
    response = metrics_client.post("/api/chat", json=BODY, headers=auth_headers)
    assert response.status_code == 200
    _, after = scrape(metrics_client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    model = "gemma3-270m"
    assert moved("llmchat_api_chats_total", model=model, outcome="stop") == 1
    assert moved("llmchat_api_tokens_total", model=model, user_role="user", type="input") == 3
    assert moved("llmchat_api_tokens_total", model=model, user_role="user", type="output") == 3
    assert moved("llmchat_api_ttft_seconds_count", model=model) == 1
    assert value(after, "llmchat_api_streams_in_flight", model=model) == 0
    route = {"route": "/api/chat", "method": "POST"}
    assert moved("llmchat_api_http_requests_total", status="200", **route) == 1
    assert moved("llmchat_api_http_request_duration_seconds_count", **route) == 1
    assert moved("llmchat_api_errors_total", code="engine_error", source="stream") == 0


def test_errors_are_counted_by_code(
    metrics_client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    def failing(request: ChatRequest) -> list[Chunk]:
        return [
            StreamStarted(seq=0, worker_id="w1", model=request.model, prompt_tokens=1),
            StreamError(seq=1, code="engine_error", message="boom"),
        ]

    _, before = scrape(metrics_client)
    unknown = metrics_client.post("/api/chat", json={**BODY, "model": "nope"}, headers=auth_headers)
    assert unknown.status_code == 404
    assert metrics_client.post("/api/chat", json=BODY).status_code == 401
    fake_gateway.script = failing
    assert metrics_client.post("/api/chat", json=BODY, headers=auth_headers).status_code == 200
    _, after = scrape(metrics_client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("llmchat_api_errors_total", code="model_not_found", source="http") == 1
    assert moved("llmchat_api_errors_total", code="unauthorized", source="http") == 1
    assert moved("llmchat_api_errors_total", code="engine_error", source="stream") == 1
    assert moved("llmchat_api_chats_total", model="gemma3-270m", outcome="engine_error") == 1
    chat = {"route": "/api/chat", "method": "POST"}
    assert moved("llmchat_api_http_requests_total", status="404", **chat) == 1
    assert moved("llmchat_api_http_requests_total", status="401", **chat) == 1


def test_metrics_off(settings: ApiSettings, fake_gateway: FakeGateway) -> None:
    off = replace(settings, metrics_enabled=False)
    service = ChatService(off, fake_gateway, StreamTable())
    with TestClient(app=create_app(off, chat_service=service)) as client:
        assert client.get("/metrics").status_code in (401, 404)
    assert service.metrics is None


def test_settings_read_the_observability_variables(settings: ApiSettings) -> None:
    env = {
        "JWT_SECRET": "x" * 32,
        "API_METRICS_ENABLED": "false",
        "OTEL_TRACES_EXPORTER": "OTLP",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": "edge-1",
    }
    loaded = ApiSettings.from_env(env)
    assert loaded.metrics_enabled is False
    assert loaded.otel_traces_exporter == "otlp"
    assert loaded.otel_exporter_otlp_protocol == "grpc"
    assert loaded.otel_service_name == "edge-1"
    defaults = ApiSettings.from_env({"JWT_SECRET": "x" * 32})
    assert (defaults.metrics_enabled, defaults.otel_traces_exporter) == (True, "none")
