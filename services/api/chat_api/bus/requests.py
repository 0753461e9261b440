"""Chat requests on ``REQUESTS_STREAM``: publish one (``Nats-Msg-Id`` = request id, once
more if the ack is lost), remember where each open one sits in the stream, and cancel one:
publish a ``CancelRequest`` and withdraw it from the queue if no worker took it yet."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NotFoundError

from chat_api.bus.background import BackgroundTasks
from chat_api.bus.events import LifecycleEvents
from contracts import codec, subjects
from contracts.events import RequestCancelled
from contracts.inference import CancelReason, CancelRequest, ChatRequest
from contracts.tracing import inject_trace_context

log = logging.getLogger("chat_api.bus.requests")

MESSAGE_GONE = frozenset({10043, 10057})
"""JetStream's error codes for deleting a message that is not there (a worker acked it):
"sequence N not found" (400) and "no message found" (500), depending on where it was."""


@dataclass(frozen=True, slots=True)
class Queued:
    seq: int
    """The request's sequence in ``REQUESTS_STREAM`` (gone once a worker acks it)."""
    request: ChatRequest
    opened_at: float


class RequestQueue:
    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        events: LifecycleEvents,
        background: BackgroundTasks,
    ) -> None:
        self.nc = nc
        self.js = js
        self._events = events
        self._background = background
        self._queued: dict[str, Queued] = {}
        """Requests of open feeds: where each sits in the requests stream."""
        self.propagate_trace = False
        """Put the current trace context on the requests (tracing on)."""

    async def publish(self, request: ChatRequest) -> PubAck:
        """Publish the request; a timeout does not say whether it was stored (the ack may
        be what got lost), so publish it once more under the same ``Nats-Msg-Id``: a
        stored copy answers as a duplicate with its sequence, and the chat goes on instead
        of failing while a worker runs it for nobody."""
        headers = {subjects.MSG_ID_HEADER: request.request_id}
        if self.propagate_trace:
            inject_trace_context(headers)
        subject, payload = subjects.request_subject(request.model), codec.encode(request)
        try:
            return await self.js.publish(subject, payload, headers=headers)
        except TimeoutError:
            log.warning("request %s: publish timed out; publishing again", request.request_id)
            return await self.js.publish(subject, payload, headers=headers)

    def hold(self, request: ChatRequest, seq: int) -> None:
        """Remember where the request sits until it is cancelled or forgotten."""
        self._queued[request.request_id] = Queued(seq, request, time.monotonic())

    def forget(self, request_id: str) -> None:
        self._queued.pop(request_id, None)

    def cancel(self, request_id: str, reason: CancelReason) -> None:
        payload = codec.encode(CancelRequest(request_id=request_id, reason=reason))
        self._background.spawn(self.nc.publish(subjects.cancel_subject(request_id), payload))
        queued = self._queued.pop(request_id, None)
        if queued is not None:
            self._background.spawn(self._withdraw(queued, reason))

    async def _withdraw(self, queued: Queued, reason: CancelReason) -> None:
        """Delete the request from the queue by the sequence its publish returned:
        otherwise a worker that frees up later, or starts later, would generate it for
        nobody (its cancel broadcast long gone) and bill the tokens. A withdrawn request is
        reported ``RequestCancelled`` here, since no worker ever will."""
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
        self._events.cancelled(
            RequestCancelled(
                request_id=request.request_id,
                user_id=request.user_id,
                model=request.model,
                worker_id=None,
                reason=reason,
                latency_ms=(time.monotonic() - queued.opened_at) * 1000.0,
                at=time.time(),
                conversation_id=request.conversation_id,
            )
        )
