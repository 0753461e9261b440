"""What api instances say to each other about the chats they relay: ``CancelChat`` (the
cancel route asks whichever instance relays a chat to cancel it) and ``RelayWatch`` (a
client is attached to a chat, so the instance keeping it detached keeps it)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from chat_api.bus.background import BackgroundTasks
from contracts import codec, subjects
from contracts.errors import ErrorCode
from contracts.inference import CancelChat, RelayWatch
from contracts.rpc import Ack, Reply, RpcError
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
    def __init__(self, nc: NatsClient, background: BackgroundTasks) -> None:
        self.nc = nc
        self._background = background
        self._cancels: Subscription | None = None
        self._watches: Subscription | None = None
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

        self._cancels = await self.nc.subscribe(subjects.RELAY_CANCEL_SUBJECTS, cb=on_cancel)

    def watch(self, request_id: str) -> None:
        payload = codec.encode(RelayWatch(request_id=request_id))
        self._background.spawn(self.nc.publish(subjects.relay_watch_subject(request_id), payload))

    async def serve_watches(self, handle: WatchHandler) -> None:
        """Hear ``RelayWatch`` for every chat (this instance keeps the detached ones)."""

        async def on_watch(msg: Msg) -> None:
            try:
                handle(codec.decode_relay_watch(msg.data).request_id)
            except codec.DecodeErrors as exc:
                log.warning("bad relay watch on %s: %s", msg.subject, exc)

        self._watches = await self.nc.subscribe(subjects.RELAY_WATCH_SUBJECTS, cb=on_watch)
