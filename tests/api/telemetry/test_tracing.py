"""The api's server spans (in-memory exporter, ``FakeGateway``): one per HTTP request,
continuing a client's ``traceparent``; tracing is off unless ``OTEL_TRACES_EXPORTER`` says."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from chat_api.telemetry import ApiTracing
from tests.api.fake_gateway import FakeGateway

BODY = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced_client(
    settings: ApiSettings, fake_gateway: FakeGateway, spans: InMemorySpanExporter
) -> Iterator[TestClient[Any]]:
    tracing = ApiTracing.with_processor(SimpleSpanProcessor(spans), "llmchat-api")
    service = ChatService(settings, fake_gateway, StreamTable())
    app = create_app(settings, chat_service=service, tracing=tracing)
    with TestClient(app=app, raise_server_exceptions=False) as client:
        yield client


def test_a_chat_is_a_server_span(
    traced_client: TestClient[Any],
    auth_headers: dict[str, str],
    spans: InMemorySpanExporter,
    settings: ApiSettings,
) -> None:
    response = traced_client.post(
        "/api/chat",
        json=BODY,
        headers={**auth_headers, "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"},
    )
    assert response.status_code == 200
    [span] = spans.get_finished_spans()
    assert span.name == "POST /api/chat"
    assert span.kind == SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/api/chat"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["llmchat.request_id"] == response.headers["x-request-id"]
    assert span.resource.attributes["service.name"] == "llmchat-api"
    # what was asked, by the GenAI semantic conventions (the worker's span adds the usage)
    assert span.attributes["gen_ai.operation.name"] == "chat"
    assert span.attributes["gen_ai.system"] == "vllm"
    assert span.attributes["gen_ai.request.model"] == settings.default_model
    assert span.attributes["gen_ai.request.max_tokens"] == 8
    # The client's trace continues: same trace id, the client's span is the parent.
    assert span.context is not None
    assert f"{span.context.trace_id:032x}" == CLIENT_TRACE
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == CLIENT_SPAN


def test_errors_mark_the_span(traced_client: TestClient[Any], spans: InMemorySpanExporter) -> None:
    assert traced_client.post("/api/chat", json=BODY).status_code == 401
    [unauthorized] = spans.get_finished_spans()
    assert unauthorized.attributes is not None
    assert unauthorized.attributes["http.response.status_code"] == 401
    assert unauthorized.status.status_code == StatusCode.UNSET
    assert unauthorized.parent is None  # no traceparent: a new trace


def test_tracing_is_off_unless_an_exporter_is_named(settings: ApiSettings) -> None:
    assert ApiTracing.from_settings(settings) is None
    assert ApiTracing.from_settings(replace(settings, otel_traces_exporter="none")) is None
    console = ApiTracing.from_settings(replace(settings, otel_traces_exporter="console"))
    assert console is not None
    console.shutdown()
    otlp = ApiTracing.from_settings(replace(settings, otel_traces_exporter="otlp"))
    assert otlp is not None
    otlp.shutdown()
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        ApiTracing.from_settings(replace(settings, otel_traces_exporter="zipkin"))
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        ApiTracing.from_settings(
            replace(settings, otel_traces_exporter="otlp", otel_exporter_otlp_protocol="http/json")
        )
