import pytest
from tests.api.test_telemetry_live import Observed, _chat, _until, observed  # noqa: F401

pytestmark = pytest.mark.nats


async def test_dump(observed: Observed) -> None:  # noqa: F811
    request_id, events = await _chat(observed, "say hello [[tokens=2]]")
    import asyncio
    await asyncio.sleep(2.0)
    exporters = {
        "api": observed.api_spans,
        "worker": observed.worker_spans,
        "persistence": observed.persistence_spans,
        "metering": observed.metering_spans,
    }
    api = [s for s in observed.api_spans.get_finished_spans() if (s.attributes or {}).get("llmchat.request_id") == request_id][0]
    tid = api.context.trace_id
    spans = [(svc, s) for svc, e in exporters.items() for s in e.get_finished_spans() if s.context.trace_id == tid]
    names = {s.context.span_id: s.name for _, s in spans}
    spans.sort(key=lambda x: x[1].start_time)
    with open("/tmp/ebench/trace.txt", "w") as out:
        out.write(f"trace {tid:032x}\n")
        for svc, s in spans:
            parent = names.get(s.parent.span_id, "remote/none") if s.parent else "-"
            out.write(f"[{svc}] {s.name!r} kind={s.kind.name} parent={parent!r} scope={s.instrumentation_scope.name}\n")
            for k, v in sorted((s.attributes or {}).items()):
                out.write(f"      {k}={v!r}\n")
        out.write("\n--- console exporter JSON of the api's span ---\n")
        out.write(api.to_json())
