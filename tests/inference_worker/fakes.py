"""Test doubles for the generation sinks (no NATS)."""

from __future__ import annotations

import asyncio

from contracts.events import ChatEvent
from contracts.inference import Chunk, StreamError, TokenChunk


class ListChunkSink:
    """Collects chunks; ``ended`` is set at the terminal chunk."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.first_token = asyncio.Event()
        self.ended = asyncio.Event()

    async def send(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)
        if isinstance(chunk, TokenChunk):
            self.first_token.set()
            if chunk.finish_reason is not None:
                self.ended.set()
        elif isinstance(chunk, StreamError):
            self.ended.set()


class ListEventSink:
    def __init__(self) -> None:
        self.events: list[ChatEvent] = []

    async def publish(self, event: ChatEvent) -> None:
        self.events.append(event)


class BrokenChunkSink:
    """Every send fails (a closed connection)."""

    async def send(self, chunk: Chunk) -> None:
        raise ConnectionError("closed")
