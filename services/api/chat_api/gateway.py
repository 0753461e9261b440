"""The api's only NATS user: publish requests, cancels and events; relay chunks back.

``Gateway`` is the Protocol the rest of the api depends on; ``NatsGateway`` implements it
over nats-py. Per request: ONE core subscription on ``chunk_subject(request_id)``, made
before the request is published, whose callback decodes each chunk and puts it on the
request's ``Feed`` queue (the relay reads from there). Fire-and-forget publishes (cancels)
run as tracked tasks so they work from ``finally`` blocks of cancelled generators; events
go through a ``JetStreamOutbox`` (published in order until JetStream stores them, across a
JetStream restart; flushed for a bounded time at close).

A cancel also withdraws the request from the queue if no worker has taken it yet (a
JetStream message delete by the sequence the publish returned): otherwise a worker that
frees up later, or starts later, would generate it for nobody (its cancel broadcast long
gone) and bill the tokens. A withdrawn request is reported ``RequestCancelled`` by the
api, since no worker ever will.

Core NATS is at most once: chunks published while this connection is down are lost for
the api. ``replay`` re-reads them from ``CHUNKS_STREAM`` (which captures every chunk
subject); the relay asks for it on a seq gap, and after a reconnect every open feed gets a
``Signal("resync")`` so its relay asks for whatever it missed (a lost final chunk too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck
from nats.js.errors import APIError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from chat_api.queue_positions import QueuePositions, QueueUpdate, Waiting
from chat_api.workers import WorkerRegistry
from contracts import codec, subjects
from contracts.bus import DRAIN_TIMEOUT_S
from contracts.errors import ErrorCode
from contracts.events import RequestAccepted, RequestCancelled, RequestFailed
from contracts.inference import (
    CancelChat,
    CancelReason,
    CancelRequest,
    ChatRequest,
    Chunk,
    OpenChat,
    RelayWatch,
    StreamError,
    TokenChunk,
)
from contracts.rpc import Ack, Reply, RpcError
from contracts.streams import ensure_streams
from contracts.tracing import inject_trace_context
from llmchat_bus.outbox import JetStreamOutbox
from llmchat_bus.rpc_client import RpcClient, RpcNoAnswer, RpcRefused

log = logging.getLogger("chat_api.gateway")

EVENTS_CLOSE_S = 5.0
"""At close: how long events still unpublished (JetStream unreachable) may take."""

MESSAGE_GONE = frozenset({10043, 10057})
"""JetStream's error codes for deleting a message that is not there (a worker acked it):
"sequence N not found" (400) and "no message found" (500), depending on where it was."""

REPLAY_TIMEOUT_S = 2.0
"""Longest a ``replay`` may take: the relay waits on it, its client sees nothing meanwhile."""
REPLAY_BATCH = 256
"""Captured chunks asked for per fetch of a replay."""
REPLAY_CONSUMER_IDLE_S = 30.0
"""The server drops a replay's consumer idle this long (one whose delete was lost)."""


@dataclass(frozen=True, slots=True)
class Signal:
    """A non-chunk item on a feed: something the relay must react to."""

    kind: str  # "deadline" | "worker_lost" | "cancelled" | "shutdown" | "keepalive" | "resync"
    detail: str = ""


FeedItem = Chunk | Signal | QueueUpdate


class Feed:
    """Chunks of one request (and signals about it) in arrival order."""

    __slots__ = ("_close", "closed", "queue", "request_id")

    def __init__(self, request_id: str, close: Callable[[], None] | None = None) -> None:
        self.request_id = request_id
        self.queue: asyncio.Queue[FeedItem] = asyncio.Queue()
        self._close = close
        self.closed = False

    def push(self, item: FeedItem) -> None:
        if not self.closed:
            self.queue.put_nowait(item)

    def close(self) -> None:
        """Stop receiving (idempotent, synchronous: safe in a cancelled generator)."""
        if self.closed:
            return
        self.closed = True
        if self._close is not None:
            self._close()


def accepted_event(request: ChatRequest, now: float) -> RequestAccepted:
    """The ``RequestAccepted`` of a request; a conversation chat also carries its new user
    message (the last message of the request), which persistence stores."""
    user_message: str | None = None
    if request.conversation_id is not None and request.messages:
        last = request.messages[-1]
        if last.role == "user":
            user_message = last.content
    return RequestAccepted(
        request_id=request.request_id,
        user_id=request.user_id,
        model=request.model,
        message_count=len(request.messages),
        at=now,
        conversation_id=request.conversation_id,
        user_message=user_message,
        api_key_id=request.api_key_id,
    )


class Gateway(Protocol):
    @property
    def workers(self) -> WorkerRegistry: ...

    async def open(self, request: ChatRequest, queue_updates: bool = False) -> Feed:
        """Subscribe to the request's chunks, publish it, announce it accepted. With
        ``queue_updates`` the feed also gets a ``QueueUpdate`` every second while the
        request waits for a worker."""
        ...

    def cancel(self, request_id: str, reason: CancelReason) -> None:
        """Publish a ``CancelRequest`` and withdraw the request from the queue if no
        worker took it yet (fire and forget). Call it before closing the request's feed."""
        ...

    def report_failed(self, event: RequestFailed) -> None:
        """Publish a ``RequestFailed`` event the api detected itself (fire and forget)."""
        ...

    async def cancel_elsewhere(self, request: CancelChat) -> bool:
        """Ask the api instance relaying ``request.request_id`` to cancel it: True if one
        did (the user may), False if none answered yes."""
        ...

    async def replay(
        self, request_id: str, after_seq: int, before_seq: int | None = None
    ) -> list[Chunk]:
        """The captured chunks of the request with ``after_seq < seq < before_seq`` (no
        upper bound when None), in seq order, read from ``CHUNKS_STREAM`` within
        ``REPLAY_TIMEOUT_S``. Possibly incomplete (never captured, expired, JetStream
        unreachable: then empty): the caller checks the seqs."""
        ...

    async def open_chat(self, request_id: str) -> OpenChat | None:
        """The ``OpenChat`` some api instance recorded when it accepted the request (None:
        unknown, or older than ``OPEN_CHATS_TTL_S``). Raises ``GatewayUnavailable``."""
        ...

    async def conversation_chat(self, conversation_id: str) -> str | None:
        """The request id of the conversation's chat still running, if any."""
        ...

    def chat_ended(self, request: ChatRequest) -> None:
        """The request's stream ended here: its conversation has no running chat any more
        (fire and forget)."""
        ...

    async def attach(self, chat: OpenChat, queue_updates: bool = False) -> Feed:
        """Receive the chunks of a request accepted elsewhere (or detached here) from now
        on; what came before is read with ``replay``. Nothing is published. With
        ``queue_updates`` and the chat's ``queue_seq`` known, the feed gets a
        ``QueueUpdate`` every second while it waits, as the accepting instance's does."""
        ...

    def watch(self, request_id: str) -> None:
        """Say ``RelayWatch``: a client is attached to the request (fire and forget)."""
        ...


WatchHandler = Callable[[str], None]
"""Called with the request id of each ``RelayWatch`` heard."""

CancelHandler = Callable[[CancelChat], bool | None]
"""This instance's answer to a ``CancelChat``: True cancelled, False refused (not the
user's chat), None not relayed here."""

RELAY_CANCEL_TIMEOUT_S = 1.0
"""How long the cancel route waits for the instance relaying a chat to answer."""


class GatewayUnavailable(Exception):
    """The request could not be put on the bus."""


@dataclass(frozen=True, slots=True)
class _Queued:
    seq: int
    """The request's sequence in ``REQUESTS_STREAM`` (gone once a worker acks it)."""
    request: ChatRequest
    opened_at: float


class NatsGateway:
    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        registry: WorkerRegistry,
        sweep_interval_s: float = 0.25,
    ) -> None:
        self.nc = nc
        self.js = js
        self._registry = registry
        self._sweep_interval_s = sweep_interval_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat_sub: Subscription | None = None
        self._cancel_sub: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.propagate_trace = False
        """Put the current trace context on requests and events (tracing on)."""
        self.on_reconnect: list[Callable[[], None]] = []
        """Called after the NATS connection comes back (core messages may be lost)."""
        self._queued: dict[str, _Queued] = {}
        """Requests of open feeds: where each sits in the requests stream."""
        self._feeds: dict[str, Feed] = {}
        """Open feeds by request id: each is told to resync after a reconnect."""
        self._events = JetStreamOutbox(js, log=log)
        self._open_chats: KeyValue | None = None
        self._watch_sub: Subscription | None = None
        self.positions = QueuePositions(js)

    async def _reconnected(self) -> None:
        # Chunks published while the connection was down never reach us: each relay
        # replays what it missed from the capture stream.
        for feed in list(self._feeds.values()):
            feed.push(Signal("resync"))
        for hook in list(self.on_reconnect):
            try:
                hook()
            except Exception:
                log.exception("reconnect hook failed")

    @property
    def workers(self) -> WorkerRegistry:
        return self._registry

    @classmethod
    async def connect(
        cls,
        url: str,
        registry: WorkerRegistry,
        timeout_s: float = 30.0,
        sweep_interval_s: float = 0.25,
    ) -> NatsGateway:
        """Connect (retrying until ``timeout_s``), ensure the streams, start the registry."""
        deadline = time.monotonic() + timeout_s
        delay = 0.1
        gateway: NatsGateway | None = None

        async def reconnected() -> None:
            if gateway is not None:
                await gateway._reconnected()

        while True:
            try:
                nc = await nats.connect(
                    url,
                    name="chat-api",
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    reconnected_cb=reconnected,
                    drain_timeout=DRAIN_TIMEOUT_S,
                )
                break
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    raise GatewayUnavailable(f"cannot connect to NATS at {url}: {exc}") from exc
                log.warning("NATS at %s not reachable (%s); retrying in %.1f s", url, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        js = nc.jetstream()
        await ensure_streams(js)
        gateway = cls(nc, js, registry, sweep_interval_s)
        await gateway.start()
        return gateway

    async def start(self) -> None:
        self._open_chats = await self.js.key_value(subjects.OPEN_CHATS_BUCKET)
        self._heartbeat_sub = await self.nc.subscribe(
            subjects.HEARTBEAT_SUBJECTS, cb=self._on_heartbeat
        )
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="worker-sweeper")

    async def close(self) -> None:
        await self.positions.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        await self._events.close(EVENTS_CLOSE_S)
        if not self.nc.is_closed:
            await self.nc.drain()

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            status = codec.decode_worker_status(msg.data)
        except codec.DecodeErrors as exc:
            log.warning("bad heartbeat on %s: %s", msg.subject, exc)
            return
        self._registry.observe(status)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval_s)
            try:
                self._registry.sweep()
            except Exception:
                log.exception("worker sweep failed")

    async def _subscribe(self, feed: Feed) -> Subscription:
        """The feed's core subscription to its request's chunks."""
        decode = codec.decode_chunk
        push = feed.push
        request_id = feed.request_id

        async def on_chunk(msg: Msg) -> None:
            try:
                push(decode(msg.data))
            except codec.DecodeErrors as exc:
                log.warning("bad chunk for %s: %s", request_id, exc)

        return await self.nc.subscribe(subjects.chunk_subject(request_id), cb=on_chunk)

    async def open(self, request: ChatRequest, queue_updates: bool = False) -> Feed:
        subscription: Subscription | None = None

        def close() -> None:
            self._queued.pop(request.request_id, None)
            if queue_updates:
                self.positions.unwatch(request.request_id, request.model)
            if self._feeds.get(request.request_id) is feed:
                del self._feeds[request.request_id]
            if subscription is not None:
                self._spawn(subscription.unsubscribe())

        feed = Feed(request.request_id, close)
        self._feeds[request.request_id] = feed
        try:
            subscription = await self._subscribe(feed)
            headers = {subjects.MSG_ID_HEADER: request.request_id}
            if self.propagate_trace:
                inject_trace_context(headers)
            ack, _ = await asyncio.gather(self._queue(request, headers), self._record(request))
        except Exception as exc:
            feed.close()
            raise GatewayUnavailable(f"could not queue the request: {exc}") from exc
        if not feed.closed:
            self._queued[request.request_id] = _Queued(ack.seq, request, time.monotonic())
            if queue_updates:
                seq = ack.seq
                self.positions.watch(
                    request.request_id,
                    Waiting(
                        request.model,
                        seq,
                        feed.push,
                        on_waiting=lambda: self._spawn(self._record(request, queue_seq=seq)),
                    ),
                )
        accepted = accepted_event(request, time.time())
        self._publish_event(subjects.EVENT_ACCEPTED, accepted, request.request_id, "accepted")
        return feed

    async def _queue(self, request: ChatRequest, headers: dict[str, str]) -> PubAck:
        """Publish the request; a timeout does not say whether it was stored (the ack may
        be what got lost), so publish it once more under the same ``Nats-Msg-Id``: a
        stored copy answers as a duplicate with its sequence, and the chat goes on instead
        of failing while a worker runs it for nobody."""
        subject, payload = subjects.request_subject(request.model), codec.encode(request)
        try:
            return await self.js.publish(subject, payload, headers=headers)
        except TimeoutError:
            log.warning("request %s: publish timed out; publishing again", request.request_id)
            return await self.js.publish(subject, payload, headers=headers)

    async def _record(self, request: ChatRequest, queue_seq: int | None = None) -> None:
        """Write the request's ``OpenChat`` (and its conversation's running chat). A chat
        goes on without it: only a later re-attach would miss it. Written again with
        ``queue_seq`` once the request has waited for a worker."""
        if self._open_chats is None:
            return
        chat = OpenChat(
            request_id=request.request_id,
            user_id=request.user_id,
            model=request.model,
            deadline=request.deadline,
            created_at=request.created_at,
            conversation_id=request.conversation_id,
            queue_seq=queue_seq,
        )
        try:
            await self._open_chats.put(
                subjects.open_chat_key(request.request_id), codec.encode(chat)
            )
            if request.conversation_id is not None and queue_seq is None:
                await self._open_chats.put(
                    subjects.conversation_chat_key(request.conversation_id),
                    request.request_id.encode(),
                )
        except Exception as exc:
            log.warning("request %s: open chat not recorded: %r", request.request_id, exc)

    async def open_chat(self, request_id: str) -> OpenChat | None:
        value = await self._kv_get(subjects.open_chat_key(request_id))
        if value is None:
            return None
        try:
            return codec.decode_open_chat(value)
        except codec.DecodeErrors as exc:
            log.warning("bad open chat %s: %s", request_id, exc)
            return None

    async def conversation_chat(self, conversation_id: str) -> str | None:
        value = await self._kv_get(subjects.conversation_chat_key(conversation_id))
        return value.decode() if value else None

    async def _kv_get(self, key: str) -> bytes | None:
        if self._open_chats is None:
            raise GatewayUnavailable("open chats are not available")
        try:
            entry = await self._open_chats.get(key)
        except KeyNotFoundError:
            return None
        except Exception as exc:
            raise GatewayUnavailable(f"open chats unreachable: {exc}") from exc
        return entry.value

    def chat_ended(self, request: ChatRequest) -> None:
        if request.conversation_id is not None:
            self._spawn(self._forget_conversation_chat(request))

    async def _forget_conversation_chat(self, request: ChatRequest) -> None:
        assert request.conversation_id is not None
        if self._open_chats is None:
            return
        key = subjects.conversation_chat_key(request.conversation_id)
        with contextlib.suppress(KeyNotFoundError):
            entry = await self._open_chats.get(key)
            # A newer chat of the conversation owns the key now: leave it.
            if entry.value == request.request_id.encode():
                await self._open_chats.delete(key, last=entry.revision)

    async def attach(self, chat: OpenChat, queue_updates: bool = False) -> Feed:
        subscription: Subscription | None = None
        request_id = chat.request_id

        def close() -> None:
            if self._feeds.get(key) is feed:
                del self._feeds[key]
            self.positions.unwatch(key, chat.model)
            if subscription is not None:
                self._spawn(subscription.unsubscribe())

        feed = Feed(request_id, close)
        key = f"{request_id}#{id(feed)}"  # several clients may follow one request
        self._feeds[key] = feed  # resynced after a reconnect like the owner's
        try:
            subscription = await self._subscribe(feed)
        except Exception as exc:
            feed.close()
            raise GatewayUnavailable(f"could not follow the request: {exc}") from exc
        if queue_updates and chat.queue_seq is not None:
            self.positions.watch(key, Waiting(chat.model, chat.queue_seq, feed.push))
        return feed

    def watch(self, request_id: str) -> None:
        payload = codec.encode(RelayWatch(request_id=request_id))
        self._spawn(self.nc.publish(subjects.relay_watch_subject(request_id), payload))

    async def serve_watches(self, handle: WatchHandler) -> None:
        """Hear ``RelayWatch`` for every chat (this instance keeps the detached ones)."""

        async def on_watch(msg: Msg) -> None:
            try:
                handle(codec.decode_relay_watch(msg.data).request_id)
            except codec.DecodeErrors as exc:
                log.warning("bad relay watch on %s: %s", msg.subject, exc)

        self._watch_sub = await self.nc.subscribe(subjects.RELAY_WATCH_SUBJECTS, cb=on_watch)

    def cancel(self, request_id: str, reason: CancelReason) -> None:
        payload = codec.encode(CancelRequest(request_id=request_id, reason=reason))
        self._spawn(self.nc.publish(subjects.cancel_subject(request_id), payload))
        queued = self._queued.pop(request_id, None)
        if queued is not None:
            self._spawn(self._withdraw(queued, reason))

    async def _withdraw(self, queued: _Queued, reason: CancelReason) -> None:
        request = queued.request
        try:
            deleted = await self.js.delete_msg(subjects.REQUESTS_STREAM, queued.seq)
        except NotFoundError:
            return  # a worker took it (acked it): the worker reports how it ended
        except APIError as exc:
            if exc.err_code in MESSAGE_GONE:
                return  # the same, as the server says it
            raise
        if not deleted:
            return
        log.info("request %s withdrawn from the queue (%s)", request.request_id, reason)
        event = RequestCancelled(
            request_id=request.request_id,
            user_id=request.user_id,
            model=request.model,
            worker_id=None,
            reason=reason,
            latency_ms=(time.monotonic() - queued.opened_at) * 1000.0,
            at=time.time(),
            conversation_id=request.conversation_id,
        )
        self._publish_event(subjects.EVENT_CANCELLED, event, request.request_id, "cancelled")

    def report_failed(self, event: RequestFailed) -> None:
        self._publish_event(subjects.EVENT_FAILED, event, event.request_id, "failed")

    async def cancel_elsewhere(self, request: CancelChat) -> bool:
        # Usually no instance relays the chat (it ended): nobody answering is routine.
        relays = RpcClient(
            self.nc,
            "relaying api",
            RELAY_CANCEL_TIMEOUT_S,
            propagate_trace=self.propagate_trace,
            unreachable_log_level=logging.DEBUG,
        )
        try:
            await relays.call(subjects.relay_cancel_subject(request.request_id), request, Ack)
        except (RpcNoAnswer, RpcRefused):
            return False
        return True

    async def replay(
        self, request_id: str, after_seq: int, before_seq: int | None = None
    ) -> list[Chunk]:
        found: dict[int, Chunk] = {}
        try:
            async with asyncio.timeout(REPLAY_TIMEOUT_S):
                await self._read_captured(request_id, after_seq, before_seq, found)
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

    async def _read_captured(
        self, request_id: str, after_seq: int, before_seq: int | None, found: dict[int, Chunk]
    ) -> None:
        """Read the request's captured chunks into ``found`` (by seq) through a short-lived
        pull consumer: a few round trips whatever the length of the answer (a lookup per
        message would cost one per chunk from the start). The stream seq of a chunk is
        unknown here, so it reads the subject from its first message."""
        stream = subjects.CHUNKS_STREAM
        name = f"replay-{uuid.uuid4().hex}"
        config = ConsumerConfig(
            name=name,
            filter_subject=subjects.chunk_subject(request_id),
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=REPLAY_CONSUMER_IDLE_S,
            mem_storage=True,
        )
        decode = codec.decode_chunk
        try:
            info = await self.js.add_consumer(stream, config)
            pull = await self.js.pull_subscribe_bind(name, stream=stream)
            try:
                pending = info.num_pending or 0
                highest = after_seq
                while True:
                    if before_seq is None:
                        if pending == 0:
                            return  # caught up with what is captured
                    elif highest >= before_seq - 1:
                        return
                    # Nothing pending but the range not complete: the capture may lag the
                    # live delivery by a moment, so wait for one more (within the timeout).
                    batch = min(pending, REPLAY_BATCH) or 1
                    msgs = await pull.fetch(batch, timeout=REPLAY_TIMEOUT_S)
                    for msg in msgs:
                        try:
                            chunk = decode(msg.data)
                        except codec.DecodeErrors as exc:
                            log.warning("bad captured chunk for %s: %s", request_id, exc)
                            continue
                        seq = chunk.seq
                        highest = max(highest, seq)
                        if seq > after_seq and (before_seq is None or seq < before_seq):
                            found[seq] = chunk
                        if isinstance(chunk, StreamError) or (
                            isinstance(chunk, TokenChunk) and chunk.finish_reason is not None
                        ):
                            return  # the last chunk of the stream
                    pending = msgs[-1].metadata.num_pending if msgs else 0
            finally:
                with contextlib.suppress(Exception):
                    await pull.unsubscribe()
        finally:
            self._spawn(self._drop_consumer(name))

    async def _drop_consumer(self, name: str) -> None:
        # Best effort: a consumer left behind is dropped by the server once idle.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.js.delete_consumer(subjects.CHUNKS_STREAM, name), REPLAY_TIMEOUT_S
            )

    async def serve_cancels(self, handle: CancelHandler) -> None:
        """Answer ``CancelChat`` requests for the chats this instance relays."""

        async def on_cancel(msg: Msg) -> None:
            try:
                request = codec.decode_cancel_chat(msg.data)
            except codec.DecodeErrors as exc:
                log.warning("bad cancel request on %s: %s", msg.subject, exc)
                return
            outcome = handle(request)
            if outcome is None or not msg.reply:
                return  # another instance relays it (or nobody: the asker times out)
            reply: Reply[Ack] = (
                Reply(ok=Ack())
                if outcome
                else Reply(error=RpcError(code=ErrorCode.NOT_FOUND, message="no such running chat"))
            )
            await msg.respond(codec.encode(reply))

        self._cancel_sub = await self.nc.subscribe(subjects.RELAY_CANCEL_SUBJECTS, cb=on_cancel)

    def _publish_event(
        self, subject: str, event: msgspec.Struct, request_id: str, kind: str
    ) -> None:
        headers = {subjects.MSG_ID_HEADER: subjects.event_msg_id(request_id, kind)}
        if self.propagate_trace:
            inject_trace_context(headers)
        self._events.publish(subject, codec.encode(event), headers, f"{kind} event {request_id}")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background publish failed: %r", task.exception())
