"""Chunks read back from the capture stream ``CHUNKS_STREAM`` (it stores every chunk
subject): core NATS is at most once, so chunks published while the api's connection was
down are lost for it, and the relay asks here for a range it missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from chat_api.bus.background import BackgroundTasks
from contracts import codec, subjects
from contracts.inference import Chunk, StreamError, TokenChunk

log = logging.getLogger("chat_api.bus.capture")

REPLAY_TIMEOUT_S = 2.0
"""Longest a ``replay`` may take: the relay waits on it, its client sees nothing meanwhile."""
REPLAY_BATCH = 256
"""Captured chunks asked for per fetch of a replay."""
REPLAY_CONSUMER_IDLE_S = 30.0
"""The server drops a replay's consumer idle this long (one whose delete was lost)."""


@dataclass(frozen=True, slots=True)
class _Range:
    """The chunks a replay wants: ``after_seq < seq < before_seq`` (None: no upper bound)."""

    request_id: str
    after_seq: int
    before_seq: int | None

    def holds(self, seq: int) -> bool:
        return seq > self.after_seq and (self.before_seq is None or seq < self.before_seq)

    def read(self, pending: int, highest: int) -> bool:
        """Everything wanted was read: caught up with what is captured (no upper bound),
        or past the upper bound."""
        if self.before_seq is None:
            return pending == 0
        return highest >= self.before_seq - 1


def _is_last(chunk: Chunk) -> bool:
    """The last chunk of a stream: nothing follows it."""
    return isinstance(chunk, StreamError) or (
        isinstance(chunk, TokenChunk) and chunk.finish_reason is not None
    )


class CaptureReplay:
    def __init__(self, js: JetStreamContext, background: BackgroundTasks) -> None:
        self.js = js
        self._background = background

    async def replay(
        self, request_id: str, after_seq: int, before_seq: int | None = None
    ) -> list[Chunk]:
        """The captured chunks of the request with ``after_seq < seq < before_seq``, in
        seq order, within ``REPLAY_TIMEOUT_S``; possibly incomplete (empty if JetStream is
        unreachable)."""
        found: dict[int, Chunk] = {}
        try:
            async with asyncio.timeout(REPLAY_TIMEOUT_S):
                await self._read_captured(_Range(request_id, after_seq, before_seq), found)
        except TimeoutError:
            log.warning(
                "request %s: replay after seq %d timed out (%d chunks found)",
                request_id,
                after_seq,
                len(found),
            )
        except Exception as exc:  # JetStream unreachable, stream missing: nothing to replay
            log.warning("request %s: replay after seq %d failed: %r", request_id, after_seq, exc)
        return [found[seq] for seq in sorted(found)]

    async def _read_captured(self, wanted: _Range, found: dict[int, Chunk]) -> None:
        """Read the request's captured chunks into ``found`` (by seq) through a short-lived
        pull consumer: a few round trips whatever the length of the answer (a lookup per
        message would cost one per chunk from the start). The stream seq of a chunk is
        unknown here, so it reads the subject from its first message."""
        stream = subjects.CHUNKS_STREAM
        name = f"replay-{uuid.uuid4().hex}"
        try:
            info = await self.js.add_consumer(stream, _consumer(name, wanted.request_id))
            pull = await self.js.pull_subscribe_bind(name, stream=stream)
            try:
                await self._fetch(pull, wanted, info.num_pending or 0, found)
            finally:
                with contextlib.suppress(Exception):
                    await pull.unsubscribe()
        finally:
            self._background.spawn(self._drop_consumer(name))

    async def _fetch(
        self,
        pull: JetStreamContext.PullSubscription,
        wanted: _Range,
        pending: int,
        found: dict[int, Chunk],
    ) -> None:
        highest = wanted.after_seq
        while not wanted.read(pending, highest):
            # Nothing pending but the range not complete: the capture may lag the live
            # delivery by a moment, so wait for one more (within the timeout).
            msgs = await pull.fetch(min(pending, REPLAY_BATCH) or 1, timeout=REPLAY_TIMEOUT_S)
            for msg in msgs:
                try:
                    chunk = codec.decode_chunk(msg.data)
                except codec.DecodeErrors as exc:
                    log.warning("bad captured chunk for %s: %s", wanted.request_id, exc)
                    continue
                highest = max(highest, chunk.seq)
                if wanted.holds(chunk.seq):
                    found[chunk.seq] = chunk
                if _is_last(chunk):
                    return
            pending = msgs[-1].metadata.num_pending if msgs else 0

    async def _drop_consumer(self, name: str) -> None:
        # Best effort: a consumer left behind is dropped by the server once idle.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.js.delete_consumer(subjects.CHUNKS_STREAM, name), REPLAY_TIMEOUT_S
            )


def _consumer(name: str, request_id: str) -> ConsumerConfig:
    """An ephemeral-in-effect consumer of the request's captured chunks, from the first."""
    return ConsumerConfig(
        name=name,
        filter_subject=subjects.request_chunk_subjects(request_id),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=REPLAY_CONSUMER_IDLE_S,
        mem_storage=True,
    )
