"""The worker's metrics (families, what one generation moves, vLLM's own families passed
through, the HTTP endpoint) and tracing (a generation span in the request's trace)."""

from __future__ import annotations

import asyncio
import urllib.request

import msgspec
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.parser import text_string_to_metric_families

from contracts.tracing import extract_trace_context, inject_trace_context
from inference_worker.engine import ScriptedEngine
from inference_worker.metrics import EngineStatsCollector, WorkerMetrics
from inference_worker.settings import SettingsError, load_settings
from inference_worker.tracing import WorkerTracing
from llmchat_bus.metrics_endpoint import MetricsEndpoint
from llmchat_bus.tracing import gen_ai_request_attributes
from local_stack.ports import free_port
from tests.inference_worker.test_generation import make_generation, make_request

WAIT = 5.0


def _metrics(running: int = 0) -> WorkerMetrics:
    return WorkerMetrics("m", in_flight=lambda: 2, engine_running=lambda: running)


async def test_one_generation_moves_its_metrics() -> None:
    metrics = _metrics()
    engine = ScriptedEngine(tokens_per_s=1000, text="one two three four five")
    generation, _, _ = make_generation(make_request("go [[tokens=4]]"), engine)
    task = generation.start()
    metrics.watch(generation, task)
    await asyncio.wait_for(task, WAIT)
    value = metrics.registry.get_sample_value
    labels = {"model": "m"}
    assert value("llmchat_worker_generations_finished_total", {**labels, "reason": "stop"}) == 1
    assert value("llmchat_worker_generated_tokens_total", labels) == 4
    assert (value("llmchat_worker_prompt_tokens_total", labels) or 0) > 0
    assert value("llmchat_worker_ttft_seconds_count", labels) == 1
    assert value("llmchat_worker_time_per_output_token_seconds_count", labels) == 1
    assert value("llmchat_worker_generation_duration_seconds_count", labels) == 1
    assert value("llmchat_worker_queue_wait_seconds_count", labels) == 1
    # Gauges are read at scrape time.
    assert value("llmchat_worker_generations_in_flight", labels) == 2
    assert value("llmchat_worker_engine_requests_running", labels) == 0


async def test_a_failed_generation_counts_its_code() -> None:
    metrics = _metrics()
    engine = ScriptedEngine(tokens_per_s=1000)
    generation, _, _ = make_generation(make_request("[[fail]]"), engine)
    task = generation.start()
    metrics.watch(generation, task)
    await asyncio.wait_for(task, WAIT)
    finished = metrics.registry.get_sample_value(
        "llmchat_worker_generations_finished_total", {"model": "m", "reason": "engine_error"}
    )
    assert finished == 1


def test_engine_statistics_are_passed_through() -> None:
    source = CollectorRegistry()
    Gauge("vllm:num_requests_waiting", "waiting", registry=source).set(3)
    Gauge("unrelated_gauge", "not vLLM's", registry=source).set(1)
    metrics = WorkerMetrics("m", in_flight=lambda: 0)
    metrics.registry.register(EngineStatsCollector(source))
    assert metrics.registry.get_sample_value("vllm:num_requests_waiting") == 3
    assert metrics.registry.get_sample_value("unrelated_gauge") is None


def test_endpoint_serves_the_exposition_format() -> None:
    metrics = _metrics()
    port = free_port()
    endpoint = MetricsEndpoint(metrics.registry, "127.0.0.1", port)
    assert endpoint.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        families = {f.name: f.type for f in text_string_to_metric_families(text)}
        assert families["llmchat_worker_generations_finished"] == "counter"
        assert families["llmchat_worker_ttft_seconds"] == "histogram"
        assert families["llmchat_worker_generations_in_flight"] == "gauge"
        # A port that is taken: logged, the worker serves on without metrics.
        assert not MetricsEndpoint(metrics.registry, "127.0.0.1", port).start()
    finally:
        endpoint.stop()
    again = MetricsEndpoint(metrics.registry, "127.0.0.1", port)  # stopped: the port is free
    assert again.start()
    again.stop()


def test_settings_read_the_observability_variables() -> None:
    settings = load_settings(
        {
            "WORKER_METRICS_PORT": "9411",
            "WORKER_METRICS_HOST": "0.0.0.0",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_SERVICE_NAME": "w",
        }
    )
    assert (settings.metrics_port, settings.metrics_host) == (9411, "0.0.0.0")
    assert settings.engine_stats
    assert (settings.otel_traces_exporter, settings.otel_exporter_otlp_protocol) == ("otlp", "grpc")
    assert settings.otel_service_name == "w"
    defaults = load_settings({})
    assert (defaults.metrics_port, defaults.engine_stats) == (0, False)
    assert WorkerTracing.from_settings(defaults) is None
    with pytest.raises(SettingsError, match="OTEL_TRACES_EXPORTER"):
        load_settings({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(SettingsError, match="WORKER_METRICS_PORT"):
        load_settings({"WORKER_METRICS_PORT": "-1"})


async def test_generation_span_is_a_child_of_the_request_context() -> None:
    exporter = InMemorySpanExporter()
    tracing = WorkerTracing.with_processor(SimpleSpanProcessor(exporter), "worker")
    # The api side: a span whose context travels in the request's headers.
    api = TracerProvider().get_tracer("api")
    with api.start_as_current_span("POST /api/chat") as api_span:
        headers: dict[str, str] = {}
        inject_trace_context(headers)
    engine = ScriptedEngine(tokens_per_s=1000)
    generation, _, _ = make_generation(make_request("go [[tokens=2]]", max_tokens=8), engine)
    token = otel_context.attach(extract_trace_context(headers))
    try:
        task = tracing.run(generation, generation.start)
    finally:
        otel_context.detach(token)
    await asyncio.wait_for(task, WAIT)
    [span] = exporter.get_finished_spans()
    assert span.name == "chat m"
    assert span.kind == trace.SpanKind.CONSUMER
    assert span.context is not None
    assert span.context.trace_id == api_span.get_span_context().trace_id
    assert span.parent is not None
    assert span.parent.span_id == api_span.get_span_context().span_id
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.output_tokens"] == 2
    assert isinstance(span.attributes["gen_ai.usage.input_tokens"], int)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.system"] == "vllm"
    assert span.attributes["gen_ai.request.model"] == "m"
    assert span.attributes["gen_ai.request.max_tokens"] == 8
    # Sampling settings the request leaves to the profile are not recorded.
    assert "gen_ai.request.temperature" not in span.attributes
    assert "gen_ai.request.top_p" not in span.attributes
    assert [event.name for event in span.events] == ["first_token"]


def test_set_sampling_settings_are_gen_ai_attributes() -> None:
    request = make_request()
    sampling = msgspec.structs.replace(request.sampling, temperature=0.2, top_p=0.9)
    attributes = gen_ai_request_attributes(msgspec.structs.replace(request, sampling=sampling))
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert "gen_ai.request.max_tokens" not in attributes
