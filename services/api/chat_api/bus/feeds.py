"""Feeds: a request's chunks (and signals and queue updates about it) in arrival order,
filled by ONE core subscription on ``chunk_subject(request_id)`` per feed. ``ChunkFeeds``
keeps the open ones, so that each is told to ``Resync`` after a NATS reconnect."""

from __future__ import annotations

import asyncio
import logging
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


class ChunkFeeds:
    def __init__(self, nc: NatsClient, background: BackgroundTasks) -> None:
        self.nc = nc
        self._background = background
        self.open: dict[str, Feed] = {}
        """Open feeds by key (the request id, or one per client following it)."""

    async def follow(self, request_id: str, key: str, on_close: Callable[[], None]) -> Feed:
        """A feed of the request's chunks, kept under ``key`` until closed; closing it
        calls ``on_close`` and unsubscribes. If the subscription fails the feed is closed
        and the error raised."""
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

        return await self.nc.subscribe(subjects.chunk_subject(request_id), cb=on_chunk)
