"""What api instances say to each other about the chats they relay: ``CancelChat`` (the
cancel route asks whichever instance relays a chat to cancel it) and ``RelayWatch`` (a
client is attached to a chat, so the instance keeping it detached keeps it), served on the
api's FastStream broker; the watches are published through a FastStream publisher (a few
per chat), the cancel requests with the RPC client (a request with its own inbox)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from chat_api.bus.background import BackgroundTasks
from contracts import codec, subjects
from contracts.errors import ErrorCode
from contracts.inference import CancelChat, RelayWatch
from contracts.rpc import Ack, Reply, RpcError
from llmchat_bus.broker import ServiceBroker, Subscription
from llmchat_bus.rpc_client import RpcClient, RpcNoAnswer, RpcRefused

log = logging.getLogger("chat_api.bus.relay_routes")

WatchHandler = Callable[[str], None]
"""Called with the request id of each ``RelayWatch`` heard."""

CancelHandler = Callable[[CancelChat], bool | None]
"""This instance's answer to a ``CancelChat``: True cancelled, False refused (not the
user's chat), None not relayed here."""

RELAY_CANCEL_TIMEOUT_S = 1.0
"""How long the cancel route waits for the instance relaying a chat to answer."""


class RelayRoutes:
    def __init__(self, broker: ServiceBroker, background: BackgroundTasks) -> None:
        self.broker = broker
        self.nc = broker.nc
        self._background = background
        self._cancel_handler: CancelHandler | None = None
        self._watch_handler: WatchHandler | None = None
        self._cancels = Subscription(
            broker,
            subjects.RELAY_CANCEL_SUBJECTS,
            payload=CancelChat,
            decode=codec.decode_cancel_chat,
            handle=self._on_cancel,
            malformed="bad cancel request on %s: %s",
            logger=log,
            description="Cancel a chat if this instance relays it: Reply[Ack], else no answer.",
        )
        self._watches = Subscription(
            broker,
            subjects.RELAY_WATCH_SUBJECTS,
            payload=RelayWatch,
            decode=codec.decode_relay_watch,
            handle=self._on_watch,
            malformed="bad relay watch on %s: %s",
            logger=log,
            description="A client is attached to the chat (the instance keeping it keeps it).",
        )
        self._watch_publisher = broker.publisher(
            subjects.RELAY_WATCH_SUBJECTS,
            title=f"{subjects.RELAY_WATCH_SUBJECTS}:publish",
            description="Said while a client is attached to a chat, on its relay-watch subject.",
        )
        broker.sends(
            subjects.RELAY_CANCEL_SUBJECTS,
            CancelChat,
            "a request (RPC client, its own inbox) to whichever instance relays the chat.",
        )
        self.propagate_trace = False
        """Put the current trace context on the cancel requests (tracing on)."""

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

    async def serve_cancels(self, handle: CancelHandler) -> None:
        """Answer ``CancelChat`` requests for the chats this instance relays."""
        self._cancel_handler = handle
        await self._cancels.start()

    async def _on_cancel(self, request: CancelChat) -> Reply[Ack] | None:
        outcome = None if self._cancel_handler is None else self._cancel_handler(request)
        if outcome is None:
            return None  # another instance relays it (or nobody: the asker times out)
        if outcome:
            return Reply(ok=Ack())
        return Reply(error=RpcError(code=ErrorCode.NOT_FOUND, message="no such running chat"))

    def watch(self, request_id: str) -> None:
        self._background.spawn(self._say_watch(request_id))

    async def _say_watch(self, request_id: str) -> None:
        await self.broker.connect()
        payload = codec.encode(RelayWatch(request_id=request_id))
        await self._watch_publisher.publish(payload, subjects.relay_watch_subject(request_id))

    async def serve_watches(self, handle: WatchHandler) -> None:
        """Hear ``RelayWatch`` for every chat (this instance keeps the detached ones)."""
        self._watch_handler = handle
        await self._watches.start()

    async def _on_watch(self, watch: RelayWatch) -> None:
        if self._watch_handler is not None:
            self._watch_handler(watch.request_id)
