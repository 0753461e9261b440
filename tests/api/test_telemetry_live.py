"""Metrics and traces across the real services: the api (uvicorn in this event loop), the
real inference worker (scripted stand-in engine), the real persistence and metering
services over the session's nats-server.

Metrics: each service's endpoint parsed with prometheus-client's own parser, before and
after a chat. Traces: each service gets an OpenTelemetry SDK provider over an in-memory
exporter; one chat is one trace (api HTTP span -> worker generation span -> persistence
and metering consumer spans), the context travelling in the NATS message headers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from httpx_sse import aconnect_sse
from nats.aio.client import Client as NatsClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from chat_api.app import create_app
from chat_api.auth.dev_token import dev_token
from chat_api.chat import ChatService
from chat_api.settings import ApiSettings
from chat_api.telemetry import ApiTracing
from contracts import subjects
from inference_worker.engine import ScriptedEngine
from inference_worker.settings import load_settings as load_worker_settings
from inference_worker.tracing import WorkerTracing
from local_stack.ports import free_port
from metering.app import run as run_metering
from metering.settings import MeteringSettings
from metering.tracing import MeteringTracing
from persistence.app import run as run_persistence
from persistence.settings import PersistenceSettings
from persistence.tracing import PersistenceTracing
from tests.inference_worker.harness import RunningWorker, running_worker, worker_env

pytestmark = pytest.mark.nats

SECRET = "telemetry-secret-0123456789-0123456789"
WAIT_S = 10.0
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Observed:
    """The three services, their metrics URLs and their span exporters."""

    api_url: str
    token: str
    model: str
    worker: RunningWorker
    worker_metrics_url: str
    persistence_metrics_url: str
    metering_metrics_url: str
    api_spans: InMemorySpanExporter
    worker_spans: InMemorySpanExporter
    persistence_spans: InMemorySpanExporter
    metering_spans: InMemorySpanExporter

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _tracing_exporter() -> tuple[InMemorySpanExporter, SimpleSpanProcessor]:
    exporter = InMemorySpanExporter()
    return exporter, SimpleSpanProcessor(exporter)


@pytest.fixture
async def observed(
    nats_url: str, nats_client: NatsClient, tmp_path: Path
) -> AsyncIterator[Observed]:
    api_spans, api_processor = _tracing_exporter()
    worker_spans, worker_processor = _tracing_exporter()
    persistence_spans, persistence_processor = _tracing_exporter()
    metering_spans, metering_processor = _tracing_exporter()
    metering_port = free_port()
    stop_metering = asyncio.Event()
    metering: asyncio.Task[int] | None = None
    model = f"m-{uuid.uuid4().hex[:8]}"
    persistence_port = free_port()
    stop_persistence = asyncio.Event()
    persistence = asyncio.create_task(
        run_persistence(
            PersistenceSettings(
                dev_admin=True,  # as `make run` has it: the test signs in as dev-admin
                nats_url=nats_url,
                data_dir=tmp_path,
                events_poll_s=0.2,
                nats_connect_timeout_s=10.0,
                drain_timeout_s=3.0,
                metrics_port=persistence_port,
            ),
            stop_persistence,
            tracing=PersistenceTracing.with_processor(persistence_processor, "persistence"),
        )
    )
    settings = ApiSettings(
        jwt_secret=SECRET,
        data_dir=tmp_path,
        nats_url=nats_url,
        port=free_port(),
        default_model=model,
        models=(model,),
        request_timeout_s=20.0,
        worker_stale_after_s=1.0,
        worker_sweep_interval_s=0.1,
        shutdown_grace_s=2.0,
        expose_timeline=True,
    )
    app = create_app(settings, tracing=ApiTracing.with_processor(api_processor, "api"))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")
    )
    served = asyncio.create_task(server.serve())
    api_url = f"http://127.0.0.1:{settings.port}"
    token = dev_token(settings)
    worker_port = free_port()
    env = worker_env(nats_url, model, WORKER_METRICS_PORT=str(worker_port))
    engine = ScriptedEngine.from_settings(load_worker_settings(env))
    tracing = WorkerTracing.with_processor(worker_processor, "worker")
    try:
        await _until(lambda: server.started or served.done())
        async with httpx.AsyncClient(base_url=api_url, timeout=5.0) as http:

            async def persistence_answers() -> bool:
                me = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
                return me.status_code == 200

            await _until_async(persistence_answers)
            # Metering after persistence is up: Alembic migrates one database at a time
            # per process (its module-level context).
            metering = asyncio.create_task(
                run_metering(
                    MeteringSettings(
                        nats_url=nats_url,
                        data_dir=tmp_path,
                        events_poll_s=0.2,
                        nats_connect_timeout_s=10.0,
                        drain_timeout_s=3.0,
                        metrics_port=metering_port,
                    ),
                    stop_metering,
                    tracing=MeteringTracing.with_processor(metering_processor, "metering"),
                )
            )

            async def metering_ready() -> bool:
                try:
                    response = await http.get(f"http://127.0.0.1:{metering_port}/metrics")
                except httpx.HTTPError:
                    return False
                return "llmchat_metering_events_total" in response.text

            await _until_async(metering_ready)
        async with running_worker(nats_client, env, engine=engine, tracing=tracing) as worker:
            service: ChatService = app.state["chat_service"]
            await _until(lambda: service.gateway.workers.serves(model))
            yield Observed(
                api_url=api_url,
                token=token,
                model=model,
                worker=worker,
                worker_metrics_url=f"http://127.0.0.1:{worker_port}/metrics",
                persistence_metrics_url=f"http://127.0.0.1:{persistence_port}/metrics",
                metering_metrics_url=f"http://127.0.0.1:{metering_port}/metrics",
                api_spans=api_spans,
                worker_spans=worker_spans,
                persistence_spans=persistence_spans,
                metering_spans=metering_spans,
            )
    finally:
        server.should_exit = True
        await asyncio.wait_for(served, 15)
        stop_persistence.set()
        stop_metering.set()
        await asyncio.wait_for(persistence, 30)
        if metering is not None:
            await asyncio.wait_for(metering, 30)


async def test_every_endpoint_parses_and_moves_after_a_chat(observed: Observed) -> None:
    async with httpx.AsyncClient(timeout=5.0) as http:
        api_url = f"{observed.api_url}/metrics"
        before = {
            url: await _scrape(http, url)
            for url in (
                api_url,
                observed.worker_metrics_url,
                observed.persistence_metrics_url,
                observed.metering_metrics_url,
            )
        }
        _, events = await _chat(observed, "say hello [[tokens=3]]")
        assert [e for e in events if e != "token"] == ["start", "done"]
        model = observed.model

        def moved(url: str, name: str, **labels: str) -> float:
            return _value(after[url], name, **labels) - _value(before[url], name, **labels)

        # The worker reports after its last chunk, persistence after the events arrive.
        async def settled() -> bool:
            after.update({url: await _scrape(http, url) for url in before})
            return (
                moved(
                    observed.worker_metrics_url,
                    "llmchat_worker_generations_finished_total",
                    model=model,
                    reason="stop",
                )
                == 1
                and moved(
                    observed.persistence_metrics_url,
                    "llmchat_persistence_events_total",
                    kind="completed",
                    outcome="ignored",
                )
                >= 1
                and moved(
                    observed.metering_metrics_url,
                    "llmchat_metering_events_total",
                    outcome="recorded",
                )
                >= 2
            )

        after: dict[str, Samples] = {}
        await _until_async(settled)

    assert moved(api_url, "llmchat_api_chats_total", model=model, outcome="stop") == 1
    assert (
        moved(api_url, "llmchat_api_tokens_total", model=model, user_role="admin", type="output")
        == 3
    )
    assert moved(api_url, "llmchat_api_ttft_seconds_count", model=model) == 1
    assert (
        moved(
            api_url,
            "llmchat_api_http_requests_total",
            route="/api/chat",
            method="POST",
            status="200",
        )
        == 1
    )
    assert _value(after[api_url], "llmchat_api_workers", model=model, state="ready") == 1
    assert _value(after[api_url], "llmchat_api_queue_depth", model=model) == 0

    worker = observed.worker_metrics_url
    assert moved(worker, "llmchat_worker_generated_tokens_total", model=model) == 3
    assert moved(worker, "llmchat_worker_prompt_tokens_total", model=model) > 0
    assert moved(worker, "llmchat_worker_ttft_seconds_count", model=model) == 1
    assert moved(worker, "llmchat_worker_generation_duration_seconds_count", model=model) == 1
    assert moved(worker, "llmchat_worker_queue_wait_seconds_count", model=model) == 1
    assert _value(after[worker], "llmchat_worker_generations_in_flight", model=model) == 0
    assert _value(after[worker], "llmchat_worker_engine_requests_running", model=model) == 0

    persistence = observed.persistence_metrics_url
    assert (
        moved(persistence, "llmchat_persistence_events_total", kind="accepted", outcome="ignored")
        >= 1
    )
    assert (
        _value(
            after[persistence],
            "llmchat_persistence_rpc_requests_total",
            subject=subjects.ACCOUNT_GET,
            outcome="ok",
        )
        >= 1
    )
    # FastStream's Prometheus middleware on the brokers, labelled by subject family
    bus = "llmchat_bus_received_messages_total"
    assert (
        _value(
            after[persistence],
            bus,
            app_name="persistence",
            broker="nats",
            handler=subjects.ACCOUNT_GET,
        )
        >= 1
    )
    assert (
        _value(
            after[api_url], bus, app_name="api", broker="nats", handler=subjects.HEARTBEAT_SUBJECTS
        )
        >= 1
    )


async def test_a_streamed_chat_ends_with_its_first_token_stages(observed: Observed) -> None:
    """Both ends stamp the chat on one host: every stage is there, none is negative, and
    the stages in a row add up to the whole time to first token."""
    async with httpx.AsyncClient(base_url=observed.api_url, timeout=10.0) as http:
        before = await _scrape(http, "/metrics")
        async with aconnect_sse(
            http,
            "POST",
            "/api/chat",
            json={"messages": [{"role": "user", "content": "hi [[tokens=4]]"}]},
            headers=observed.headers,
        ) as source:
            events = [sse async for sse in source.aiter_sse()]
        done = events[-1]
        assert done.event == "done"
        chat_stages = done.json()["timeline"]
        response = await http.post(
            "/v1/chat/completions",
            json={
                "model": observed.model,
                "stream": True,
                "messages": [{"role": "user", "content": "hi [[tokens=4]]"}],
            },
            headers=observed.headers,
        )
        frames = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
        assert frames[-1] == "[DONE]"
        [finish] = [f for f in frames[:-1] if "timeline" in f]
        v1_stages = httpx.Response(200, content=finish).json()["timeline"]
        after = await _scrape(http, "/metrics")

    in_a_row = (  # publish and worker_ack overlap them
        "http_in",
        "accept",
        "to_worker",
        "prompt",
        "engine",
        "worker_send",
        "to_api",
    )
    for stages in (chat_stages, v1_stages):
        assert set(stages) == {*in_a_row, "publish", "worker_ack", "api_write", "ttft"}
        assert all(ms >= 0 for ms in stages.values()), stages
        assert stages["engine"] >= 1.0  # the stand-in engine waits before each token
        in_total = sum(stages[s] for s in (*in_a_row, "api_write"))
        assert in_total == pytest.approx(stages["ttft"], abs=0.01)
    for stage in (*in_a_row, "publish", "worker_ack", "api_write", "ttft"):
        name = "llmchat_api_first_token_stage_seconds_count"
        labels = {"model": observed.model, "stage": stage}
        assert _value(after, name, **labels) - _value(before, name, **labels) == 2


async def test_one_chat_is_one_trace_across_nats(observed: Observed) -> None:
    request_id, events = await _chat(observed, "say hello [[tokens=2]]")
    assert events[-1] == "done"

    def finished(exporter: InMemorySpanExporter, name: str) -> ReadableSpan | None:
        for span in exporter.get_finished_spans():
            attributes = span.attributes or {}
            if span.name == name and attributes.get("llmchat.request_id") == request_id:
                return span
        return None

    await _until(lambda: finished(observed.api_spans, "POST /api/chat") is not None)
    api_span = finished(observed.api_spans, "POST /api/chat")
    assert api_span is not None
    assert api_span.context is not None
    assert api_span.attributes is not None
    assert api_span.attributes["llmchat.request_id"] == request_id
    assert api_span.attributes["http.response.status_code"] == 200
    trace_id = api_span.context.trace_id

    await _until(lambda: finished(observed.worker_spans, f"chat {observed.model}") is not None)
    worker_span = finished(observed.worker_spans, f"chat {observed.model}")
    assert worker_span is not None
    assert worker_span.context is not None
    assert worker_span.context.trace_id == trace_id
    assert worker_span.parent is not None
    assert worker_span.parent.span_id == api_span.context.span_id
    assert worker_span.attributes is not None
    assert worker_span.attributes["gen_ai.usage.output_tokens"] == 2
    assert worker_span.attributes["llmchat.outcome"] == "stop"
    assert [event.name for event in worker_span.events] == ["first_token"]

    def consumed(exporter: InMemorySpanExporter, name: str) -> ReadableSpan | None:
        for span in exporter.get_finished_spans():
            if span.name == name and span.context is not None and span.context.trace_id == trace_id:
                return span
        return None

    def stored(kind: str) -> ReadableSpan | None:
        return consumed(observed.persistence_spans, f"store {subjects.EVENT_SUBJECTS[:-1]}{kind}")

    def recorded(kind: str) -> ReadableSpan | None:
        return consumed(observed.metering_spans, f"record {subjects.EVENT_SUBJECTS[:-1]}{kind}")

    await _until(lambda: stored("accepted") is not None and stored("completed") is not None)
    await _until(lambda: recorded("accepted") is not None and recorded("completed") is not None)
    metered = recorded("completed")
    assert metered is not None
    assert metered.parent is not None
    assert metered.parent.span_id == worker_span.context.span_id
    accepted, completed = stored("accepted"), stored("completed")
    assert accepted is not None
    assert accepted.parent is not None
    assert accepted.parent.span_id == api_span.context.span_id  # published by the api
    assert completed is not None
    assert completed.parent is not None
    assert completed.parent.span_id == worker_span.context.span_id  # published by the worker


# --- helpers ---------------------------------------------------------------------------
async def _chat(observed: Observed, content: str) -> tuple[str, list[str]]:
    """(request id, SSE event names) of one chat."""
    body = {"messages": [{"role": "user", "content": content}]}
    async with httpx.AsyncClient(base_url=observed.api_url, timeout=10.0) as http:
        async with aconnect_sse(
            http, "POST", "/api/chat", json=body, headers=observed.headers
        ) as source:
            assert source.response.status_code == 200
            events = [sse async for sse in source.aiter_sse()]
    return events[0].json()["request_id"], [e.event for e in events]


async def _scrape(http: httpx.AsyncClient, url: str) -> Samples:
    response = await http.get(url)
    assert response.status_code == 200, url
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _until(predicate: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def _until_async(predicate: Callable[[], Awaitable[bool]], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)
