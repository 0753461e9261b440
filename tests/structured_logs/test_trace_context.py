"""Every log line written inside a span carries the span's trace and span ids (hex), in
both formats; outside a span (tracing off) the fields are absent."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span

import structured_logs

log = logging.getLogger("tests.trace_context")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = structured_logs.configure_logging("INFO", "json", stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def _ids(span: Span) -> tuple[str, str]:
    context = span.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def test_a_json_line_inside_a_span_carries_its_ids(json_lines: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("outer") as outer:
        log.info("in the outer span")
        with tracer.start_as_current_span("inner") as inner:
            log.warning("in the inner span", extra={"request_id": "r1"})
    log.info("after the spans")
    first, second, after = (json.loads(line) for line in json_lines.getvalue().splitlines())
    assert (first["trace_id"], first["span_id"]) == _ids(outer)
    assert (second["trace_id"], second["span_id"]) == _ids(inner)
    assert second["trace_id"] == first["trace_id"]
    assert second["request_id"] == "r1"
    assert "trace_id" not in after
    assert "span_id" not in after


def test_a_text_line_inside_a_span_carries_its_ids() -> None:
    stream = io.StringIO()
    handler = structured_logs.configure_logging("INFO", "text", stream)
    try:
        with TracerProvider().get_tracer("tests").start_as_current_span("s") as span:
            log.info("traced")
        log.info("untraced")
    finally:
        logging.getLogger().removeHandler(handler)
    traced, untraced = stream.getvalue().splitlines()
    trace_id, span_id = _ids(span)
    # (other fields may come between: vLLM, once imported, adds one to every record)
    assert "INFO tests.trace_context traced " in traced
    assert traced.endswith(f"trace_id={trace_id} span_id={span_id}")
    assert "INFO tests.trace_context untraced" in untraced
    assert "trace_id=" not in untraced
