"""The api's only NATS user: ``Gateway`` is the Protocol the rest of the api depends on,
``NatsGateway`` the facade implementing it with the ``chat_api.bus`` modules, one per job
(connection, feeds, requests, open_chats, events, capture, relay_routes, worker_watch,
announcements).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Protocol

import msgspec
from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from chat_api.bus import GatewayUnavailable
from chat_api.bus.announcements import Announcements
from chat_api.bus.background import BackgroundTasks
from chat_api.bus.capture import CaptureReplay
from chat_api.bus.connection import BusConnection
from chat_api.bus.events import LifecycleEvents, accepted_event
from chat_api.bus.feeds import ChunkFeeds, Feed
from chat_api.bus.open_chats import OpenChatRecords
from chat_api.bus.relay_routes import CancelHandler, RelayRoutes, WatchHandler
from chat_api.bus.requests import RequestQueue
from chat_api.bus.worker_watch import WorkerWatch
from chat_api.queue_positions import QueuePositions, Waiting
from chat_api.workers import WorkerRegistry
from contracts import subjects
from contracts.events import ChatEvent, RequestFailed
from contracts.inference import (
    CancelChat,
    CancelReason,
    CancelRequest,
    ChatRequest,
    Chunk,
    OpenChat,
)
from llmchat_bus.broker import ServiceBroker
from llmchat_bus.bus_metrics import bus_metrics


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


class NatsGateway:
    def __init__(
        self,
        connection: BusConnection,
        registry: WorkerRegistry,
        sweep_interval_s: float = 0.25,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        """``metrics``: the api's registry, for the bus metrics of its FastStream broker."""
        self.connection = connection
        self.nc = nc = connection.nc
        self.js = js = connection.js
        self.background = BackgroundTasks()
        self.events = LifecycleEvents(js)
        self.requests = RequestQueue(nc, js, self.events, self.background)
        self.open_chats = OpenChatRecords()
        self.feeds = ChunkFeeds(nc, self.background)
        self.positions = QueuePositions(js)
        self.capture = CaptureReplay(js, self.background)
        self.broker = api_broker(nc, metrics)
        self.relay_routes = RelayRoutes(self.broker, self.background)
        self.worker_watch = WorkerWatch(self.broker, registry, sweep_interval_s)
        self.announcements = Announcements(self.broker)
        connection.on_reconnect.insert(0, self.feeds.resync_all)
        self.on_reconnect = connection.on_reconnect
        """Called after the NATS connection comes back (core messages may be lost); the
        open feeds are told to resync first."""
        self._follower_ids = itertools.count()

    @property
    def propagate_trace(self) -> bool:
        """Put the current trace context on requests, events and relay cancels."""
        return self.requests.propagate_trace

    @propagate_trace.setter
    def propagate_trace(self, on: bool) -> None:
        self.requests.propagate_trace = self.events.propagate_trace = on
        self.relay_routes.propagate_trace = on

    @property
    def workers(self) -> WorkerRegistry:
        return self.worker_watch.registry

    # --- connection -------------------------------------------------------------
    @classmethod
    async def connect(
        cls,
        url: str,
        registry: WorkerRegistry,
        timeout_s: float = 30.0,
        sweep_interval_s: float = 0.25,
        metrics: CollectorRegistry | None = None,
    ) -> NatsGateway:
        """Connect (retrying until ``timeout_s``), ensure the streams, start the registry."""
        connection = await BusConnection.open(url, timeout_s)
        gateway = cls(connection, registry, sweep_interval_s, metrics)
        await gateway.start()
        return gateway

    async def start(self) -> None:
        await self.feeds.start()
        await self.open_chats.start(self.js)
        await self.worker_watch.start()
        await self.announcements.start()

    async def close(self) -> None:
        await self.positions.close()
        await self.announcements.stop()
        await self.worker_watch.close()
        await self.background.wait(2.0)
        await self.events.close()
        await self.connection.drain()

    # --- requests ---------------------------------------------------------------
    async def open(self, request: ChatRequest, queue_updates: bool = False) -> Feed:
        request_id = request.request_id

        def forget() -> None:
            self.requests.forget(request_id)
            if queue_updates:
                self.positions.unwatch(request_id, request.model)

        feed = self.feeds.own(request_id, forget)
        # The worker streams the chunks under this instance's relay id, to the one
        # subscription that feeds every request this instance accepted.
        published = msgspec.structs.replace(request, relay=self.feeds.relay_id)
        try:
            ack, _ = await asyncio.gather(
                self.requests.publish(published), self.open_chats.record(request)
            )
        except BaseException as exc:  # a cancelled open (client gone) closes its feed too
            feed.close()
            if not isinstance(exc, Exception):
                raise
            raise GatewayUnavailable(f"could not queue the request: {exc}") from exc
        if not feed.closed:
            self.requests.hold(request, ack.seq)
            if queue_updates:
                self._watch_position(request, feed, ack.seq)
        self.events.accepted(accepted_event(request, time.time()))
        return feed

    def _watch_position(self, request: ChatRequest, feed: Feed, seq: int) -> None:
        """``QueueUpdate``s onto the feed while the request waits; the first time it is
        seen waiting, its ``OpenChat`` is written again with its place in the queue."""

        def on_waiting() -> None:
            self.background.spawn(self.open_chats.record(request, queue_seq=seq))

        waiting = Waiting(request.model, seq, feed.push, on_waiting=on_waiting)
        self.positions.watch(request.request_id, waiting)

    def cancel(self, request_id: str, reason: CancelReason) -> None:
        self.requests.cancel(request_id, reason)

    def report_failed(self, event: RequestFailed) -> None:
        self.events.failed(event)

    # --- following a request ------------------------------------------------------
    async def attach(self, chat: OpenChat, queue_updates: bool = False) -> Feed:
        # Several clients may follow one request; each feed is resynced after a reconnect.
        key = f"{chat.request_id}#{next(self._follower_ids)}"
        try:
            feed = await self.feeds.follow(
                chat.request_id, key, lambda: self.positions.unwatch(key, chat.model)
            )
        except Exception as exc:
            raise GatewayUnavailable(f"could not follow the request: {exc}") from exc
        if queue_updates and chat.queue_seq is not None:
            self.positions.watch(key, Waiting(chat.model, chat.queue_seq, feed.push))
        return feed

    async def replay(
        self, request_id: str, after_seq: int, before_seq: int | None = None
    ) -> list[Chunk]:
        return await self.capture.replay(request_id, after_seq, before_seq)

    async def open_chat(self, request_id: str) -> OpenChat | None:
        return await self.open_chats.open_chat(request_id)

    async def conversation_chat(self, conversation_id: str) -> str | None:
        return await self.open_chats.conversation_chat(conversation_id)

    def chat_ended(self, request: ChatRequest) -> None:
        if request.conversation_id is not None:
            self.background.spawn(self.open_chats.forget_conversation_chat(request))

    # --- between api instances --------------------------------------------------------
    def watch(self, request_id: str) -> None:
        self.relay_routes.watch(request_id)

    async def serve_watches(self, handle: WatchHandler) -> None:
        await self.relay_routes.serve_watches(handle)

    async def cancel_elsewhere(self, request: CancelChat) -> bool:
        return await self.relay_routes.cancel_elsewhere(request)

    async def serve_cancels(self, handle: CancelHandler) -> None:
        await self.relay_routes.serve_cancels(handle)


def api_broker(nc: NatsClient, metrics: CollectorRegistry | None = None) -> ServiceBroker:
    """The api's FastStream broker (relay routes, worker heartbeats and the other services'
    announcements on it), with what the api publishes with nats-py declared for its
    AsyncAPI document. Kept on nats-py: the chunk feeds (one message per token: no
    framework on that path), the JetStream publishes and consumers, the KV buckets and
    watches."""
    broker = ServiceBroker(nc, middlewares=bus_metrics(metrics, "api"))
    broker.sends(
        subjects.REQUEST_SUBJECTS,
        ChatRequest,
        f"JetStream ({subjects.REQUESTS_STREAM}), on the model's request subject.",
    )
    broker.sends(subjects.CANCEL_SUBJECTS, CancelRequest, "core NATS, when a chat is cancelled.")
    broker.sends(
        subjects.EVENT_SUBJECTS,
        ChatEvent,
        f"JetStream ({subjects.EVENTS_STREAM}), through the outbox.",
    )
    return broker


def described() -> ServiceBroker:
    """The api's broker as its AsyncAPI document describes it (``make asyncapi``): never
    connected, nothing started."""
    broker = api_broker(NatsClient())
    RelayRoutes(broker, BackgroundTasks())
    WorkerWatch(broker, WorkerRegistry(), 0.25)
    Announcements(broker)
    return broker
