"""The service's FastStream ``NatsBroker``: one per service process, on the nats-py
connection the service already has (``connect_or_exit``, ``contracts.bus.connect``).

The broker neither opens nor drains that connection: the JetStream consumers, the outbox
and the chunk path keep using the same nats-py client, and the service drains it last.
Each part of the service starts and stops its own subscribers (``start_subscribers`` /
``stop_subscribers``); the broker as a whole is never started or stopped.

``Subscription`` is one subscriber (a subject or wildcard, an optional queue group) whose
handler takes the contracts Struct: raw bytes in, decoded here with the contracts decoder,
so a malformed message is logged and dropped (FastStream's serializer would raise before
the handler). Core NATS by default; with ``replay`` the subject's messages in a JetStream
stream, through an ordered push consumer: every instance sees every message, in order,
and there is nothing to clean up when it dies. What the service publishes with nats-py is
declared with ``sends`` so that the AsyncAPI document (``llmchat_bus.asyncapi``) still
says who publishes what.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.nats import JStream, NatsBroker
from faststream.nats.subscriber.usecases.basic import LogicSubscriber
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from contracts.codec import DecodeErrors, encode

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Replay:
    """Where a ``Subscription`` reads from a JetStream stream: ``stream``, from
    ``deliver_policy`` on (``NEW``: what comes after subscribing, ``ALL``: everything kept)."""

    stream: str
    deliver_policy: DeliverPolicy


@dataclass(frozen=True)
class Sent:
    """A subject the service publishes with nats-py, for its AsyncAPI document."""

    subject: str
    payload: Any
    """The Struct (or union of Structs) on the wire."""
    description: str


async def the_message(message: StreamMessage[Msg]) -> StreamMessage[Msg]:
    """A decoder handing the handler FastStream's message itself (raw bytes, headers)."""
    return message


class ServiceBroker(NatsBroker):
    """A ``NatsBroker`` on a connection the service made: it subscribes on it and leaves
    opening and draining it to the service."""

    def __init__(self, nc: NatsClient, *, middlewares: Sequence[Any] = ()) -> None:
        # No FastDepends: it would resolve a context parameter in a worker thread per
        # message (twice the round trip of a ping); handlers get the message itself.
        super().__init__(
            apply_types=False, logger=log, log_level=logging.DEBUG, middlewares=middlewares
        )
        self._attached = nc
        self.payloads: dict[str, Any] = {}
        """Subject of each subscriber and publisher -> its payload type (AsyncAPI)."""
        self.sent: list[Sent] = []
        """What the service publishes with nats-py (AsyncAPI)."""

    @property
    def nc(self) -> NatsClient:
        return self._attached

    @property
    def inbox_prefix(self) -> bytes:
        """The connection's inbox prefix with its dot (``_INBOX_<user>.``): where a JetStream
        subscriber of this broker has its messages delivered, the only inbox the service's
        bus user may read (FastStream would use ``_INBOX.``)."""
        inbox = self._attached.new_inbox()
        return inbox[: inbox.rindex(".") + 1].encode()

    async def _connect(self) -> NatsClient:
        self.config.connect(self._attached)
        return self._attached

    async def stop(self, *exc_info: Any) -> None:
        self._connection = None  # so NatsBroker.stop does not drain the service's connection
        await super().stop(*exc_info)

    def sends(self, subject: str, payload: Any, description: str) -> None:
        """Declare a subject published with nats-py (not through this broker)."""
        self.sent.append(Sent(subject, payload, f"Published with nats-py: {description}"))

    async def start_subscribers(self, subscribers: Iterable[LogicSubscriber[Any]]) -> None:
        await self.connect()
        for subscriber in subscribers:
            await subscriber.start()

    async def stop_subscribers(
        self,
        subscribers: Iterable[LogicSubscriber[Any]],
        graceful_timeout_s: float | None = None,
        *,
        unsubscribe_first: bool = True,
    ) -> None:
        """Unsubscribe first (a queue group then hands new messages to the other
        instances at once), then let the messages in hand finish (up to
        ``graceful_timeout_s``). Idempotent. A pull subscriber is not unsubscribed first
        (``unsubscribe_first=False``): its fetch loop would fetch from nothing; it stops
        fetching, finishes what it has, then unsubscribes."""
        stopping = list(subscribers)
        for subscriber in stopping if unsubscribe_first else ():
            subscription, subscriber.subscription = subscriber.subscription, None
            if subscription is not None:
                try:
                    await subscription.unsubscribe()
                except Exception as exc:  # connection already closed
                    log.debug("unsubscribe: %r", exc)
        if graceful_timeout_s is not None:
            self.config.broker_config.graceful_timeout = graceful_timeout_s
        # Together: each waits up to the graceful timeout for its own messages in hand.
        await asyncio.gather(*(s.stop() for s in stopping if s.running))


class Subscription(Generic[T]):
    """One subscriber on the service's broker. ``handle`` gets the decoded message; the
    Struct it returns, if any, is the reply (when a core request asked for one). ``start``
    subscribes, ``stop`` unsubscribes; both are idempotent."""

    def __init__(
        self,
        broker: ServiceBroker,
        subject: str,
        *,
        payload: Any,
        decode: Callable[[bytes], T],
        handle: Callable[[T], Awaitable[msgspec.Struct | None]],
        malformed: str,
        logger: logging.Logger,
        queue: str = "",
        description: str | None = None,
        replay: Replay | None = None,
    ) -> None:
        self.broker = broker
        self.subject = subject
        self._decode = decode
        self._handle = handle
        self._malformed = malformed
        self._log = logger
        self._replies = replay is None  # a stream message's reply subject is its ack
        from_stream: dict[str, Any] = {}
        if replay is not None:
            from_stream = {
                "stream": JStream(replay.stream, declare=False),
                "inbox_prefix": broker.inbox_prefix,
                "ordered_consumer": True,
                "deliver_policy": replay.deliver_policy,
                # An ordered consumer takes no acks.
                "ack_policy": AckPolicy.MANUAL,
            }
        self.subscriber: LogicSubscriber[Any] = broker.subscriber(
            subject,
            queue=queue,
            # Replied with nats-py's Msg.respond (nothing when the handler has no answer),
            # not by FastStream, which would answer even None.
            no_reply=True,
            decoder=the_message,
            title=subject,
            description=description,
            **from_stream,
        )
        self.subscriber(self.on_message)
        broker.payloads[subject] = payload

    async def on_message(self, message: Any) -> bytes | None:
        """The reply sent (for tests: FastStream's in-memory broker returns it)."""
        raw: Msg = message.raw_message
        try:
            decoded = self._decode(raw.data)
        except DecodeErrors as exc:
            self._log.warning(self._malformed, raw.subject, exc)
            return None
        answer = await self._handle(decoded)
        if answer is None:
            return None
        reply = encode(answer)
        if raw.reply and self._replies:
            await raw.respond(reply)
        return reply

    @property
    def running(self) -> bool:
        return self.subscriber.subscription is not None

    async def start(self) -> None:
        if not self.running:
            await self.broker.start_subscribers([self.subscriber])

    async def stop(self) -> None:
        await self.broker.stop_subscribers([self.subscriber])
