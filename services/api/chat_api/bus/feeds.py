"""Feeds: a request's chunks (and signals and queue updates about it) in arrival order.
``ChunkFeeds`` keeps the open ones, so that each is told to ``Resync`` after a NATS
reconnect.

The chunks of every request this api instance accepted come through ONE core subscription
(``relay_chunk_subjects(relay_id)``: the instance asks workers to stream there), which
hands each to its request's feed: no subscribe / unsubscribe per chat, and no task per
subscription between the NATS client and the feed, which is most of the api's cost per
token at thousands of streams (``make bench-capacity``). A client following a request
another instance accepted gets a subscription of its own (``request_chunk_subjects``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from chat_api.bus.background import BackgroundTasks
from chat_api.bus.signals import Resync, Signal
from chat_api.queue_positions import QueueUpdate
from contracts import codec, subjects
from contracts.inference import Chunk

log = logging.getLogger("chat_api.bus.feeds")

FeedItem = Chunk | Signal | QueueUpdate


class Feed:
    """Chunks of one request (and signals about it) in arrival order, for one reader.

    A deque and the reader's one waiting future rather than an ``asyncio.Queue``: the feed
    takes every token of the answer, and the queue's bookkeeping (getter list, unfinished
    count, size bound) was a tenth of the api's CPU per token at hundreds of streams."""

    __slots__ = ("_close", "_items", "_waiter", "closed", "request_id")

    def __init__(self, request_id: str, close: Callable[[], None] | None = None) -> None:
        self.request_id = request_id
        self._items: deque[FeedItem] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._close = close
        self.closed = False

    def push(self, item: FeedItem) -> None:
        if not self.closed:
            self.put(item)

    def put(self, item: FeedItem) -> None:
        """Add ``item`` even to a closed feed (what its reader still has to read)."""
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> FeedItem:
        """The next item, once there is one."""
        items = self._items
        while not items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:  # cancelled while waiting
                    self._waiter = None
        return items.popleft()

    def get_nowait(self) -> FeedItem:
        """The next item; ``IndexError`` when there is none."""
        return self._items.popleft()

    def __len__(self) -> int:
        """Items not read yet."""
        return len(self._items)

    def close(self) -> None:
        """Stop receiving (idempotent, synchronous: safe in a cancelled generator)."""
        if self.closed:
            return
        self.closed = True
        if self._close is not None:
            self._close()


class ChunkFeeds:
    def __init__(
        self, nc: NatsClient, background: BackgroundTasks, relay_id: str | None = None
    ) -> None:
        self.nc = nc
        self._background = background
        self.relay_id = relay_id or uuid.uuid4().hex[:16]
        """This instance's relay id: the chunk subject token of the requests it publishes."""
        self.open: dict[str, Feed] = {}
        """Open feeds by key (the request id, or one per client following it)."""
        self._owned: dict[str, Feed] = {}
        """The feeds of the requests this instance accepted, by request id."""
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        """Subscribe to this relay's chunks (before any request names the relay)."""
        if self._subscription is None:
            self._subscription = await self.nc.subscribe(
                subjects.relay_chunk_subjects(self.relay_id), cb=self._on_owned_chunk
            )

    def own(self, request_id: str, on_close: Callable[[], None]) -> Feed:
        """The feed of a request this instance is about to publish under ``relay_id``, kept
        under the request id until closed; closing it calls ``on_close``."""

        def close() -> None:
            on_close()
            if self.open.get(request_id) is feed:
                del self.open[request_id]
            if self._owned.get(request_id) is feed:
                del self._owned[request_id]

        feed = Feed(request_id, close)
        self.open[request_id] = self._owned[request_id] = feed
        return feed

    async def _on_owned_chunk(self, msg: Msg) -> None:
        feed = self._owned.get(subjects.request_id_of_chunk(msg.subject))
        if feed is None:  # closed: the chunk is late, or for a request abandoned here
            return
        try:
            feed.push(codec.decode_chunk(msg.data))
        except codec.DecodeErrors as exc:
            log.warning("bad chunk for %s: %s", feed.request_id, exc)

    async def follow(self, request_id: str, key: str, on_close: Callable[[], None]) -> Feed:
        """A feed of the request's chunks whichever relay asked for them, with a subscription
        of its own, kept under ``key`` until closed; closing it calls ``on_close`` and
        unsubscribes. If the subscription fails the feed is closed and the error raised."""
        subscription: Subscription | None = None

        def close() -> None:
            on_close()
            if self.open.get(key) is feed:
                del self.open[key]
            if subscription is not None:
                self._background.spawn(subscription.unsubscribe())

        feed = Feed(request_id, close)
        self.open[key] = feed
        try:
            subscription = await self._subscribe(feed)
        except BaseException:  # cancelled too: the feed must not stay open
            feed.close()
            raise
        return feed

    def resync_all(self) -> None:
        """Chunks published while the connection was down never reach us: each relay
        replays what it missed from the capture stream."""
        for feed in list(self.open.values()):
            feed.push(Resync())

    async def _subscribe(self, feed: Feed) -> Subscription:
        decode = codec.decode_chunk
        push = feed.push
        request_id = feed.request_id

        async def on_chunk(msg: Msg) -> None:
            try:
                push(decode(msg.data))
            except codec.DecodeErrors as exc:
                log.warning("bad chunk for %s: %s", request_id, exc)

        return await self.nc.subscribe(subjects.request_chunk_subjects(request_id), cb=on_chunk)
