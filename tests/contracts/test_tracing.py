"""The trace-context convention on the bus: W3C ``traceparent`` in message headers."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from contracts import subjects
from contracts.tracing import extract_trace_context, inject_trace_context


def test_round_trip_through_headers() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("parent") as span:
        headers = {subjects.MSG_ID_HEADER: "r1"}
        inject_trace_context(headers)
    context = span.get_span_context()
    assert set(headers) == {subjects.MSG_ID_HEADER, subjects.TRACEPARENT_HEADER}
    version, trace_id, span_id, flags = headers[subjects.TRACEPARENT_HEADER].split("-")
    assert (version, trace_id, span_id) == (
        "00",
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
    )
    assert int(flags, 16) & 1  # sampled
    remote = trace.get_current_span(extract_trace_context(headers)).get_span_context()
    assert (remote.trace_id, remote.span_id, remote.is_remote) == (
        context.trace_id,
        context.span_id,
        True,
    )


def test_nothing_without_a_span() -> None:
    headers: dict[str, str] = {}
    inject_trace_context(headers)
    assert headers == {}
    for carrier in (None, {}, {subjects.TRACEPARENT_HEADER: "garbage"}):
        span = trace.get_current_span(extract_trace_context(carrier))
        assert not span.get_span_context().is_valid
