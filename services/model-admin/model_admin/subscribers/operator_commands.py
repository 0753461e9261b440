"""``on_command``: every ``ActivateProfile`` on the ADMIN stream, also those an operator
published straight onto the bus with the NATS CLI, becomes the group's desired state.

A durable pull consumer (``MODEL_ADMIN_COMMANDS_CONSUMER``, shared by the model-admin
instances) on the service's FastStream broker, fetching one command at a time so that
commands are recorded in the order they were sent. A malformed command is ``term()``-ed
(logged); one that could not be recorded is ``nak()``-ed for another try a second later.
"""

from __future__ import annotations

import logging
from typing import Any

from faststream import AckPolicy
from faststream.nats import JStream, PullSub
from faststream.nats.subscriber.usecases.basic import LogicSubscriber
from nats.aio.msg import Msg

from contracts import subjects
from contracts.admin import ActivateProfile
from contracts.codec import DecodeErrors, decode_activate
from contracts.streams import commands_consumer_config
from llmchat_bus.broker import ServiceBroker, the_message
from model_admin.service import ModelAdmin

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1.0
"""When a command that could not be recorded is delivered again."""


class OperatorCommands:
    def __init__(self, broker: ServiceBroker, admin: ModelAdmin) -> None:
        self._broker = broker
        self._admin = admin
        self.subscriber: LogicSubscriber[Any] = broker.subscriber(
            subjects.ADMIN_COMMAND_SUBJECTS,
            stream=JStream(subjects.ADMIN_STREAM, declare=False),
            durable=subjects.MODEL_ADMIN_COMMANDS_CONSUMER,
            config=commands_consumer_config(),
            # One at a time: a batch of more is handled concurrently, out of order.
            pull_sub=PullSub(batch_size=1, timeout=1.0),
            inbox_prefix=broker.inbox_prefix,
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            decoder=the_message,
            title=subjects.ADMIN_COMMAND_SUBJECTS,
            description="Each command, also one sent with the NATS CLI, becomes its group's "
            f"desired state (durable {subjects.MODEL_ADMIN_COMMANDS_CONSUMER}).",
        )
        self.subscriber(self.on_message)
        broker.payloads[subjects.ADMIN_COMMAND_SUBJECTS] = ActivateProfile

    async def start(self) -> None:
        await self._broker.start_subscribers([self.subscriber])

    async def on_message(self, message: Any) -> None:
        msg: Msg = message.raw_message
        try:
            command = decode_activate(msg.data)
        except DecodeErrors as exc:
            log.warning("malformed command on %s terminated: %s", msg.subject, exc)
            await msg.term()
            return
        try:
            await self._admin.on_command(command)
        except Exception as exc:
            log.warning("command %s not recorded yet: %r", command.command_id, exc)
            await msg.nak(delay=RETRY_AFTER_S)
            return
        await msg.ack()

    async def stop(self, timeout_s: float = 0.0) -> None:
        """Stop fetching; a command in hand is recorded first (up to ``timeout_s``)."""
        await self._broker.stop_subscribers(
            [self.subscriber], timeout_s or None, unsubscribe_first=False
        )
