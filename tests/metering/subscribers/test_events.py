"""``EventSubscriber.on_batch`` with fake messages: ack / term / nak / retry decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest
from nats.aio.msg import Msg
from sqlalchemy.exc import DataError, OperationalError

from contracts.codec import encode
from contracts.events import ChatEvent
from metering.recorder import RecordResult
from metering.subscribers.events import EventSubscriber
from tests.metering import events_factory as ev


class FakeMsg:
    subject = "chat.events.v1.x"

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[str] = []

    async def ack(self) -> None:
        self.calls.append("ack")

    async def term(self) -> None:
        self.calls.append("term")

    async def nak(self, delay: float | None = None) -> None:
        self.calls.append("nak")

    async def in_progress(self) -> None:
        self.calls.append("in_progress")


class FlakyRecorder:
    """Fails like an unreachable database ``outages`` times, refuses any batch holding a
    request id in ``refused``, records the rest."""

    def __init__(self, outages: int = 0, refused: frozenset[str] = frozenset()) -> None:
        self.outages = outages
        self.refused = refused
        self.batches: list[list[ChatEvent]] = []

    async def record(self, events: Sequence[ChatEvent]) -> RecordResult:
        if self.outages:
            self.outages -= 1
            raise OperationalError("INSERT", {}, ConnectionRefusedError("down"))
        if any(event.request_id in self.refused for event in events):
            raise DataError("INSERT", {}, ValueError("refused"))
        self.batches.append(list(events))
        return RecordResult(changed=len(events))


def subscriber(recorder: FlakyRecorder) -> EventSubscriber:
    return EventSubscriber(cast(Any, None), recorder, retry_max_s=0.05, poll_s=0.1)


def msgs(*payloads: bytes) -> list[FakeMsg]:
    return [FakeMsg(p) for p in payloads]


async def on_batch(sub: EventSubscriber, batch: list[FakeMsg]) -> None:
    await sub.on_batch(cast(list[Msg], batch))


@pytest.mark.parametrize("payload", [b"not json", b'{"type": "accepted"}', b'{"type": "?"}'])
async def test_malformed_event_is_terminated_the_rest_recorded(payload: bytes) -> None:
    batch = msgs(payload, encode(ev.accepted("r1")))
    recorder = FlakyRecorder()
    sub = subscriber(recorder)
    await on_batch(sub, batch)
    assert [m.calls for m in batch] == [["term"], ["ack"]]
    assert [[e.request_id for e in b] for b in recorder.batches] == [["r1"]]
    assert (sub.terminated, sub.recorded) == (1, 1)


async def test_a_batch_is_one_recording_then_every_message_is_acked() -> None:
    batch = msgs(*(encode(ev.accepted(f"r{i}")) for i in range(5)))
    recorder = FlakyRecorder()
    await on_batch(subscriber(recorder), batch)
    assert len(recorder.batches) == 1
    assert all(m.calls == ["ack"] for m in batch)


async def test_database_down_retries_without_acking_then_acks_once() -> None:
    batch = msgs(encode(ev.accepted("r1")), encode(ev.completed("r1")))
    recorder = FlakyRecorder(outages=3)
    await on_batch(subscriber(recorder), batch)
    assert all(m.calls == ["in_progress"] * 3 + ["ack"] for m in batch)
    assert len(recorder.batches) == 1


async def test_a_refused_event_is_isolated_and_redelivered_later() -> None:
    batch = msgs(
        encode(ev.accepted("good1")), encode(ev.accepted("bad")), encode(ev.accepted("good2"))
    )
    recorder = FlakyRecorder(refused=frozenset({"bad"}))
    await on_batch(subscriber(recorder), batch)
    assert [m.calls for m in batch] == [["ack"], ["nak"], ["ack"]]
    assert [[e.request_id for e in b] for b in recorder.batches] == [["good1"], ["good2"]]


async def test_stopping_while_the_database_is_down_naks() -> None:
    batch = msgs(encode(ev.accepted("r1")))
    sub = subscriber(FlakyRecorder(outages=10_000))
    task = asyncio.create_task(on_batch(sub, batch))
    await asyncio.sleep(0.2)
    await sub.stop()
    await asyncio.wait_for(task, 2)
    assert batch[0].calls[-1] == "nak"
    assert "ack" not in batch[0].calls
