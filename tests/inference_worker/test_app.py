"""The worker app against a real nats-server, with the scripted stand-in engine."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.codec import decode_event
from contracts.errors import ErrorCode
from contracts.events import (
    ChatEvent,
    RequestAccepted,
    RequestCancelled,
    RequestCompleted,
    RequestFailed,
)
from contracts.inference import StreamError, StreamStarted, TokenChunk
from contracts.streams import event_stream_config
from inference_worker.app import run
from inference_worker.settings import load_settings
from tests.conftest import NatsServers
from tests.inference_worker.harness import (
    WAIT,
    Client,
    Heartbeats,
    running_worker,
    unique,
    worker_env,
)

pytestmark = pytest.mark.nats


@pytest.fixture
async def client(nats_client: NatsClient) -> Client:
    c = Client(nats_client)
    await c.start()
    return c


async def test_request_streams_chunks_and_a_completed_event(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    model = unique("m")
    async with running_worker(nats_client, worker_env(nats_url, model)) as worker:
        stream = await (await client.send(model, "hi [[tokens=12]]")).wait()

    started, *tokens = stream.chunks
    assert isinstance(started, StreamStarted)
    assert started.worker_id == worker.settings.worker_id
    assert [c.seq for c in stream.chunks] == list(range(13))
    last = tokens[-1]
    assert isinstance(last, TokenChunk)
    assert last.finish_reason == "stop"
    assert last.usage is not None
    assert last.usage.completion_tokens == 12
    [event] = stream.events
    assert isinstance(event, RequestCompleted)
    assert event.usage == last.usage
    assert worker.task.done()
    assert worker.task.result() == 0
    assert worker.heartbeats.states() == ["loading", "ready", "draining", "stopped"]


async def test_two_workers_share_the_consumer_within_capacity(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    model = unique("m")
    env = {"WORKER_MAX_NUM_SEQS": "1", "WORKER_SCRIPTED_TOKENS_PER_S": "50"}
    async with (
        running_worker(nats_client, worker_env(nats_url, model, **env)) as w1,
        running_worker(nats_client, worker_env(nats_url, model, **env)) as w2,
    ):
        streams = [await client.send(model, "[[tokens=15]]") for _ in range(3)]
        for stream in streams:
            await stream.wait()
        in_flight = [s.in_flight for s in w1.heartbeats.seen + w2.heartbeats.seen]

    owners = [s.chunks[0].worker_id for s in streams if isinstance(s.chunks[0], StreamStarted)]
    assert len(owners) == 3
    assert set(owners) == {w1.settings.worker_id, w2.settings.worker_id}
    assert max(in_flight) <= 1
    # With one slot each, the third request starts only after one of the first two ended.
    first_end = min(s.chunk_times[-1] for s in streams[:2])
    assert streams[2].chunk_times[0] >= first_end
    assert all(isinstance(s.events[0], RequestCompleted) for s in streams)


async def test_cancel_stops_a_running_generation(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    model = unique("m")
    async with running_worker(nats_client, worker_env(nats_url, model)):
        stream = await client.send(model, "[[hang]]")
        await asyncio.wait_for(stream.started.wait(), WAIT)
        await client.cancel(stream.request.request_id, "client_disconnected")
        await stream.wait()

    error = stream.chunks[-1]
    assert isinstance(error, StreamError)
    assert error.code == ErrorCode.CANCELLED
    [event] = stream.events
    assert isinstance(event, RequestCancelled)
    assert event.reason == "client_disconnected"


async def test_cancel_before_the_request_is_taken_skips_it(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    model = unique("m")
    request_id = unique("req")
    async with running_worker(nats_client, worker_env(nats_url, model)):
        await client.cancel(request_id, "client_disconnected")
        stream = await (await client.send(model, "hello", request_id=request_id)).wait()

    [error] = stream.chunks
    assert isinstance(error, StreamError)
    assert (error.seq, error.code) == (0, ErrorCode.CANCELLED)
    [event] = stream.events
    assert isinstance(event, RequestCancelled)
    assert event.usage is None


async def test_malformed_request_is_terminated_and_the_worker_goes_on(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    model = unique("m")
    js = nats_client.jetstream()
    async with running_worker(nats_client, worker_env(nats_url, model)):
        await js.publish(subjects.request_subject(model), b'{"not": "a request"}')
        await js.publish(subjects.request_subject(model), b"\xff garbage")
        stream = await (await client.send(model, "[[tokens=2]]")).wait()
        info = await js.consumer_info(subjects.REQUESTS_STREAM, subjects.request_consumer(model))

    assert isinstance(stream.events[0], RequestCompleted)
    assert info.num_pending == 0
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0


async def test_expired_request_fails_with_timeout(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    model = unique("m")
    async with running_worker(nats_client, worker_env(nats_url, model)):
        stream = await (await client.send(model, "hello", deadline_in=-1)).wait()
    [error] = stream.chunks
    assert isinstance(error, StreamError)
    assert error.code == ErrorCode.TIMEOUT
    assert isinstance(stream.events[0], RequestFailed)


async def test_drain_finishes_in_flight_and_cancels_what_outlives_the_timeout(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    model = unique("m")
    env = worker_env(
        nats_url, model, WORKER_DRAIN_TIMEOUT_S="1.0", WORKER_SCRIPTED_TOKENS_PER_S="50"
    )
    async with running_worker(nats_client, env) as worker:
        short = await client.send(model, "[[tokens=10]]")
        hanging = await client.send(model, "[[hang]]")
        await asyncio.wait_for(asyncio.gather(short.started.wait(), hanging.started.wait()), WAIT)
        assert await worker.stopped() == 0
        # A request published while stopped stays queued for another worker.
        late = await client.send(model, "[[tokens=1]]")
        await short.wait()
        await hanging.wait()

    assert isinstance(short.events[0], RequestCompleted)
    error = hanging.chunks[-1]
    assert isinstance(error, StreamError)
    assert error.code == ErrorCode.SHUTTING_DOWN
    event = hanging.events[0]
    assert isinstance(event, RequestCancelled)
    assert event.reason == "shutdown"
    assert worker.heartbeats.states()[-2:] == ["draining", "stopped"]
    info = await nats_client.jetstream().consumer_info(
        subjects.REQUESTS_STREAM, subjects.request_consumer(model)
    )
    assert info.num_pending == 1
    assert not late.chunks


async def test_engine_that_cannot_start_reports_failed(
    nats_client: NatsClient, nats_url: str
) -> None:
    settings = load_settings(worker_env(nats_url, unique("m"), WORKER_SCRIPTED_FAIL_START="1"))
    heartbeats = Heartbeats()
    await nats_client.subscribe(
        subjects.heartbeat_subject(settings.worker_id), cb=heartbeats.on_msg
    )
    await nats_client.flush()
    assert await asyncio.wait_for(run(settings), WAIT) == 1
    failed = await heartbeats.wait_for("failed")
    assert "told to fail" in failed.detail


async def test_engine_that_dies_fails_its_streams_and_the_worker_exits_1(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    """A dead engine (vLLM: the engine core process killed, say by the OOM killer) must
    not leave a worker that heartbeats "ready" and fails every request it pulls: it says
    "failed", takes nothing more and exits 1 for its supervisor to restart it."""
    model = unique("m")
    env = worker_env(nats_url, model, WORKER_SCRIPTED_TOKENS_PER_S="50")
    async with running_worker(nats_client, env) as worker:
        hanging = await client.send(model, "[[hang]]")
        await asyncio.wait_for(hanging.started.wait(), WAIT)
        crashing = await client.send(model, "[[crash]]")
        await crashing.wait()
        await hanging.wait()
        assert await asyncio.wait_for(worker.task, WAIT) == 1
        # Published after the crash: nobody took it, it waits for a live worker.
        late = await client.send(model, "[[tokens=1]]")
        failed = await worker.heartbeats.wait_for("failed")

    for stream in (crashing, hanging):
        error = stream.chunks[-1]
        assert isinstance(error, StreamError)
        assert error.code == ErrorCode.ENGINE_ERROR
        assert isinstance(stream.events[0], RequestFailed)
    assert "scripted engine crashed" in failed.detail
    assert worker.heartbeats.states()[-2:] == ["ready", "failed"]
    info = await nats_client.jetstream().consumer_info(
        subjects.REQUESTS_STREAM, subjects.request_consumer(model)
    )
    assert info.num_pending == 1
    assert not late.chunks


async def test_events_of_a_generation_ending_while_jetstream_is_away_are_not_lost(
    nats_servers: NatsServers,
) -> None:
    """The terminal event is the answer's and the usage's only record. While JetStream
    cannot store it (here: the events stream is gone, as when it has no leader: the
    publish finds no responder) the worker keeps it and publishes it once it can."""
    model = unique("m")
    # private: the test deletes the events stream
    with nats_servers.private("nats-no-events") as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        client = Client(nc)  # not started: no core subscriber answers on event subjects
        env = worker_env(server.url, model, WORKER_SCRIPTED_TOKENS_PER_S="50")
        async with running_worker(nc, env) as worker:
            stream = await client.send(model, "[[tokens=20]]")
            await asyncio.wait_for(stream.started.wait(), WAIT)
            await js.delete_stream(subjects.EVENTS_STREAM)
            await asyncio.wait_for(stream.ended.wait(), WAIT)  # the generation ended
            await asyncio.sleep(2.0)  # longer than the old sink's three tries
            await js.add_stream(event_stream_config())
            ended = await _terminal_event(nc, stream.request.request_id)
            assert await worker.stopped() == 0
        await nc.close()
    assert isinstance(ended, RequestCompleted)
    assert ended.usage.completion_tokens == 20


async def _terminal_event(nc: NatsClient, request_id: str) -> ChatEvent:
    """The first event of ``request_id`` in CHAT_EVENTS that is not its accepted event."""
    js = nc.jetstream()
    async with asyncio.timeout(WAIT * 2):
        while True:
            info = await js.stream_info(subjects.EVENTS_STREAM)
            if not info.state.messages:
                await asyncio.sleep(0.2)
                continue
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                raw = await js.get_msg(subjects.EVENTS_STREAM, seq)
                event: ChatEvent = decode_event(raw.data or b"")
                if event.request_id == request_id and not isinstance(event, RequestAccepted):
                    return event
            await asyncio.sleep(0.2)


async def test_heartbeat_reports_in_flight(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    model = unique("m")
    async with running_worker(nats_client, worker_env(nats_url, model)) as worker:
        streams = [await client.send(model, "[[hang]]") for _ in range(2)]
        await asyncio.wait_for(asyncio.gather(*(s.started.wait() for s in streams)), WAIT)
        status = await worker.heartbeats.wait_until(lambda s: s.in_flight == 2)
        for s in streams:
            await client.cancel(s.request.request_id)
            await s.wait()
    assert (status.state, status.in_flight, status.engine) == ("ready", 2, "scripted")


async def test_several_pull_loops_never_take_more_than_the_engine_runs(
    nats_client: NatsClient, nats_url: str, client: Client
) -> None:
    """4 pull loops, room for 2 generations: 2 run, 3 stay queued for other workers."""
    model = unique("m")
    env = worker_env(nats_url, model, WORKER_MAX_NUM_SEQS="2", WORKER_REQUEST_PULLERS="4")
    async with running_worker(nats_client, env) as worker:
        streams = [await client.send(model, "[[hang]]") for _ in range(5)]
        await worker.heartbeats.wait_until(lambda status: status.in_flight == 2)
        await asyncio.sleep(0.5)  # time for a third to be fetched, if anything allowed it
        assert sum(stream.started.is_set() for stream in streams) == 2
        info = await nats_client.jetstream().consumer_info(
            subjects.REQUESTS_STREAM, subjects.request_consumer(model)
        )
        assert (info.num_pending, info.num_ack_pending) == (3, 0)
        assert await worker.stopped() == 0
    info = await nats_client.jetstream().consumer_info(
        subjects.REQUESTS_STREAM, subjects.request_consumer(model)
    )
    assert (info.num_pending, info.num_ack_pending) == (3, 0)  # nothing held, nothing lost
