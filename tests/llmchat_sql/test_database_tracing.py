"""Statements traced by opentelemetry-instrumentation-sqlalchemy when the database handle
is given a tracer provider (tracing on), children of the current span; nothing attached
to the engine otherwise."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llmchat_sql.database import Database


async def test_a_statement_is_a_client_span_of_the_current_trace(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}", tracer_provider=provider)
    try:
        with provider.get_tracer("tests").start_as_current_span("request") as request:
            await db.ping()
    finally:
        await db.dispose()
    [statement] = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert statement.name.startswith("SELECT")
    assert statement.parent is not None
    assert statement.parent.span_id == request.get_span_context().span_id
    assert statement.attributes is not None
    assert statement.attributes["db.system.name"] == "sqlite"
    assert statement.attributes["db.query.text"] == "SELECT 1"


async def test_untraced_engines_have_no_listeners(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")
    try:
        assert len(db.engine.sync_engine.dispatch.before_cursor_execute) == 0
        await db.ping()
    finally:
        await db.dispose()
