"""``FakeGateway``: the ``Gateway`` Protocol in memory, for unit tests without NATS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from chat_api.bus import GatewayUnavailable
from chat_api.bus.feeds import Feed
from chat_api.bus.signals import Resync
from chat_api.workers import WorkerRegistry
from contracts.events import RequestFailed
from contracts.inference import (
    CancelChat,
    CancelReason,
    ChatRequest,
    Chunk,
    OpenChat,
    StreamStarted,
    TokenChunk,
    Usage,
)
from contracts.workers import WorkerStatus

Script = Callable[[ChatRequest], Sequence[Chunk]]
NEVER_STALE_S = 24 * 3600.0


def answer(*texts: str, worker_id: str = "w1") -> Script:
    """A script that answers every request with ``texts`` and finishes with ``stop``."""

    def script(request: ChatRequest) -> Sequence[Chunk]:
        chunks: list[Chunk] = [
            StreamStarted(seq=0, worker_id=worker_id, model=request.model, prompt_tokens=3)
        ]
        for seq, text in enumerate(texts, start=1):
            final = seq == len(texts)
            chunks.append(
                TokenChunk(
                    seq=seq,
                    text=text,
                    finish_reason="stop" if final else None,
                    usage=Usage(prompt_tokens=3, completion_tokens=len(texts)) if final else None,
                )
            )
        return chunks

    return script


def ready_status(worker_id: str = "w1", model: str = "gemma3-270m") -> WorkerStatus:
    return WorkerStatus(
        worker_id=worker_id,
        model=model,
        state="ready",
        in_flight=0,
        capacity=4,
        engine="fake",
        interval_s=1.0,
        sent_at=time.time(),
    )


class FakeGateway:
    def __init__(
        self,
        script: Script | None = None,
        live_models: Sequence[str] = ("gemma3-270m",),
        fail_with: Exception | None = None,
    ) -> None:
        # Nothing heartbeats here, so the workers must not go stale on the wall clock:
        # a test slower than a real stale window (300 chats on a busy CI box) saw 503s.
        # A test that wants a lost worker sets ``workers.stale_after_s`` itself.
        self._registry = WorkerRegistry(stale_after_s=NEVER_STALE_S)
        for model in live_models:
            self._registry.observe(ready_status(f"w-{model}", model))
        self.script = script or answer("Hel", "lo")
        self.fail_with = fail_with
        self.requests: list[ChatRequest] = []
        self.cancels: list[tuple[str, CancelReason]] = []
        self.failed: list[RequestFailed] = []
        self.remote_cancels: list[CancelChat] = []
        self.feeds: dict[str, Feed] = {}
        self.pending: dict[str, list[Chunk]] = {}
        """Chunks held back while ``script_live`` is False."""
        self.captured: dict[str, list[Chunk]] = {}
        """What the capture stream holds per request: every chunk the script produced
        (tests append to it to stand in for chunks a worker sent)."""
        self.lost_seqs: set[int] = set()
        """Seqs of script chunks lost on the wire: captured, never put on the feed."""
        self.expired_seqs: set[int] = set()
        """Seqs of script chunks the capture no longer holds (lost too, if in ``lost_seqs``)."""
        self.replays: list[tuple[str, int, int | None]] = []
        self.open_chats: dict[str, OpenChat] = {}
        self.conversation_chats: dict[str, str] = {}
        self.ended: list[str] = []
        self.followers: dict[str, list[Feed]] = {}
        """Feeds of re-attached clients per request (``send_live`` reaches them)."""
        self.watches: list[str] = []
        self.script_live = True
        """False: the script's chunks are captured only; the test sends them with
        ``send_live`` (a generation still running when a client re-attaches)."""

    @property
    def workers(self) -> WorkerRegistry:
        return self._registry

    async def open(self, request: ChatRequest, queue_updates: bool = False) -> Feed:
        if isinstance(self.fail_with, GatewayUnavailable | RuntimeError):
            raise self.fail_with
        self.requests.append(request)
        feed = Feed(request.request_id)
        self.feeds[request.request_id] = feed
        loop = asyncio.get_running_loop()
        chunks = list(self.script(request))
        self.open_chats[request.request_id] = OpenChat(
            request_id=request.request_id,
            user_id=request.user_id,
            model=request.model,
            deadline=request.deadline,
            created_at=request.created_at,
            conversation_id=request.conversation_id,
        )
        if request.conversation_id is not None:
            self.conversation_chats[request.conversation_id] = request.request_id
        if not self.script_live:
            self.pending[request.request_id] = chunks
            return feed
        self.captured[request.request_id] = [c for c in chunks if c.seq not in self.expired_seqs]
        for chunk in chunks:
            if chunk.seq not in self.lost_seqs:
                loop.call_soon(feed.push, chunk)
        return feed

    def send_live(self, request_id: str, count: int | None = None) -> None:
        """Send the next ``count`` (None: all) held chunks of a request to its feed and
        followers, and capture them, as a running worker does."""
        held = self.pending.get(request_id, [])
        batch = held if count is None else held[:count]
        self.pending[request_id] = held[len(batch) :]
        for chunk in batch:
            self.captured.setdefault(request_id, []).append(chunk)
            for feed in (self.feeds.get(request_id), *self.followers.get(request_id, ())):
                if feed is not None:
                    feed.push(chunk)

    async def open_chat(self, request_id: str) -> OpenChat | None:
        return self.open_chats.get(request_id)

    async def conversation_chat(self, conversation_id: str) -> str | None:
        return self.conversation_chats.get(conversation_id)

    def chat_ended(self, request: ChatRequest) -> None:
        self.ended.append(request.request_id)
        cid = request.conversation_id
        if cid is not None and self.conversation_chats.get(cid) == request.request_id:
            del self.conversation_chats[cid]

    async def attach(self, chat: OpenChat, queue_updates: bool = False) -> Feed:
        feed = Feed(chat.request_id)
        self.followers.setdefault(chat.request_id, []).append(feed)
        return feed

    def watch(self, request_id: str) -> None:
        self.watches.append(request_id)

    def cancel(self, request_id: str, reason: CancelReason) -> None:
        self.cancels.append((request_id, reason))

    def report_failed(self, event: RequestFailed) -> None:
        self.failed.append(event)

    async def cancel_elsewhere(self, request: CancelChat) -> bool:
        """No other api instance here: nobody else relays anything."""
        self.remote_cancels.append(request)
        return False

    async def replay(
        self, request_id: str, after_seq: int, before_seq: int | None = None
    ) -> list[Chunk]:
        self.replays.append((request_id, after_seq, before_seq))
        wanted = {
            chunk.seq: chunk
            for chunk in self.captured.get(request_id, ())
            if after_seq < chunk.seq and (before_seq is None or chunk.seq < before_seq)
        }
        return [wanted[seq] for seq in sorted(wanted)]

    def reconnected(self) -> None:
        """What ``NatsGateway`` does after a NATS reconnect: every open feed resyncs."""
        for feed in self.feeds.values():
            feed.push(Resync())  # a closed feed ignores it
        for feeds in self.followers.values():
            for feed in feeds:
                feed.push(Resync())
