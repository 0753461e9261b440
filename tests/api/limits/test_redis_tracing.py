"""The Redis rate-limit store's commands are client spans of
opentelemetry-instrumentation-redis when tracing is on (a tracer provider), children of
the current span, the arguments never recorded; the client is left alone when off."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from chat_api.limits.redis_store import RedisLimitStore

pytestmark = pytest.mark.redis


async def test_commands_are_client_spans_when_tracing_is_on(redis_url: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    store = RedisLimitStore.from_url(redis_url, "tracing-test", tracer_provider=provider)
    try:
        with provider.get_tracer("tests").start_as_current_span("chat") as chat:
            await store.redis.get("tracing-test:secret-key")
    finally:
        await store.redis.aclose()
    [command] = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert command.name == "GET"
    assert command.parent is not None
    assert command.parent.span_id == chat.get_span_context().span_id
    assert "secret-key" not in str(dict(command.attributes or {}))


async def test_the_client_is_not_instrumented_when_tracing_is_off(redis_url: str) -> None:
    store = RedisLimitStore.from_url(redis_url, "tracing-test")
    try:
        assert not getattr(store.redis, "_is_instrumented_by_opentelemetry", False)
    finally:
        await store.redis.aclose()
