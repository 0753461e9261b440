"""``WireStandInWorker``: a STAND-IN for the inference worker, for the api's tests only.

It plays the worker's wire role from ``contracts/`` (heartbeats, durable pull consumer of
the model's request subject, StreamStarted / TokenChunk / StreamError on the chunk
subject, cancels heard on the cancel subjects) with a scripted answer instead of an
engine. The real worker lives in services/inference-worker; tests against it come later.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import Literal

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from contracts import codec, subjects
from contracts.inference import (
    CancelRequest,
    ChatRequest,
    StreamError,
    StreamStarted,
    TokenChunk,
    Usage,
)
from contracts.streams import ensure_streams, request_consumer_config
from contracts.workers import WorkerState, WorkerStatus

Mode = Literal["answer", "hang", "error"]


class WireStandInWorker:
    def __init__(
        self,
        nc: NatsClient,
        model: str,
        *,
        tokens: Sequence[str] = ("Hel", "lo", "!"),
        token_delay_s: float = 0.0,
        mode: Mode = "answer",
        interval_s: float = 0.2,
        take_requests: bool = True,
        worker_id: str | None = None,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.model = model
        self.tokens = tuple(tokens)
        self.token_delay_s = token_delay_s
        self.mode: Mode = mode
        self.interval_s = interval_s
        self.take_requests = take_requests
        self.worker_id = worker_id or f"stand-in-{uuid.uuid4().hex[:8]}"
        self.state: WorkerState = "ready"
        self.requests: list[ChatRequest] = []
        self.cancels: list[CancelRequest] = []
        self.cancel_seen = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._generations: dict[str, asyncio.Task[None]] = {}
        self._cancel_sub: Subscription | None = None
        self._pull_sub: nats.js.JetStreamContext.PullSubscription | None = None

    async def start(self) -> WireStandInWorker:
        await ensure_streams(self.js)
        self._cancel_sub = await self.nc.subscribe(subjects.CANCEL_SUBJECTS, cb=self._on_cancel)
        await self.heartbeat()
        self._tasks.append(asyncio.create_task(self._beat_forever()))
        if self.take_requests:
            psub = await self.js.pull_subscribe(
                subjects.request_subject(self.model),
                durable=subjects.request_consumer(self.model),
                stream=subjects.REQUESTS_STREAM,
                config=request_consumer_config(self.model),
            )
            self._pull_sub = psub
            self._tasks.append(asyncio.create_task(self._pull_forever(psub)))
        await self.nc.flush()
        return self

    async def heartbeat(self) -> None:
        status = WorkerStatus(
            worker_id=self.worker_id,
            model=self.model,
            state=self.state,
            in_flight=len(self._generations),
            capacity=8,
            engine="stand-in",
            interval_s=self.interval_s,
            sent_at=time.time(),
        )
        await self.nc.publish(subjects.heartbeat_subject(self.worker_id), codec.encode(status))

    def silence(self) -> None:
        """Stop heartbeating (and generating) as if the process died."""
        for task in self._tasks:
            task.cancel()
        for task in self._generations.values():
            task.cancel()

    async def stop(self) -> None:
        self.silence()
        await asyncio.gather(*self._tasks, *self._generations.values(), return_exceptions=True)
        self.state = "stopped"
        await self.heartbeat()
        # unsubscribe explicitly: a fetch cancelled mid-wait leaves nats-py's pending
        # queue unbalanced, and draining the connection would then wait its full timeout
        for sub in (self._cancel_sub, self._pull_sub):
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        self._cancel_sub = self._pull_sub = None
        await self.nc.flush()

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.heartbeat()

    async def _pull_forever(self, psub: nats.js.JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                msgs = await psub.fetch(1, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            for msg in msgs:
                await self._take(msg)

    async def _take(self, msg: Msg) -> None:
        request = codec.decode_chat_request(msg.data)
        await msg.ack()
        if request.deadline <= time.time():
            return  # a leftover from an earlier test: nobody waits for it
        self.requests.append(request)
        task = asyncio.create_task(self._generate(request))
        self._generations[request.request_id] = task
        task.add_done_callback(lambda _: self._generations.pop(request.request_id, None))

    async def _generate(self, request: ChatRequest) -> None:
        subject = subjects.chunk_subject(request.request_id)
        prompt_tokens = sum(len(m.content.split()) for m in request.messages)
        await self.nc.publish(
            subject,
            codec.encode(
                StreamStarted(
                    seq=0,
                    worker_id=self.worker_id,
                    model=request.model,
                    prompt_tokens=prompt_tokens,
                )
            ),
        )
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "error":
            await self.nc.publish(
                subject,
                codec.encode(
                    StreamError(seq=1, code="engine_error", message="stand-in engine failed")
                ),
            )
            return
        last = len(self.tokens)
        for seq, text in enumerate(self.tokens, start=1):
            if self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            final = seq == last
            chunk = TokenChunk(
                seq=seq,
                text=text,
                token_ids=(seq,),
                finish_reason="stop" if final else None,
                usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=last) if final else None,
            )
            await self.nc.publish(subject, codec.encode(chunk))

    async def _on_cancel(self, msg: Msg) -> None:
        cancel = codec.decode_cancel(msg.data)
        self.cancels.append(cancel)
        self.cancel_seen.set()
        task = self._generations.get(cancel.request_id)
        if task is not None:
            task.cancel()

    def cancels_for(self, request_id: str) -> list[CancelRequest]:
        return [c for c in self.cancels if c.request_id == request_id]
