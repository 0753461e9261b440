"""JetStream stream and consumer configurations, and ``ensure_streams``.

Every service calls ``ensure_streams`` at start-up; it creates a missing stream and
updates an existing one to this configuration, so the first service up wins no race.
"""

from __future__ import annotations

import contextlib

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError

from contracts import subjects
from contracts.permissions import may_update

MINUTE = 60.0
DAY = 24 * 60 * MINUTE


def request_stream_config() -> StreamConfig:
    # Work queue: a request is removed once a worker acks it; a request nobody takes
    # is useless after its deadline, so the age bound only keeps the stream small.
    return StreamConfig(
        name=subjects.REQUESTS_STREAM,
        subjects=[subjects.REQUEST_SUBJECTS],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_age=30 * MINUTE,
        duplicate_window=2 * MINUTE,
        discard=DiscardPolicy.OLD,
    )


def chunk_stream_config(max_age_s: float = 15 * MINUTE) -> StreamConfig:
    # Captures the per-request core subjects for replay. Memory storage: the live relay
    # never waits for it, and losing replay data on a server restart is acceptable.
    return StreamConfig(
        name=subjects.CHUNKS_STREAM,
        subjects=[subjects.CHUNK_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.MEMORY,
        max_age=max_age_s,
        max_bytes=512 * 1024 * 1024,
        discard=DiscardPolicy.OLD,
    )


def event_stream_config() -> StreamConfig:
    return StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.EVENT_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=30 * DAY,
        duplicate_window=10 * MINUTE,
    )


def request_consumer_config(model: str, ack_wait_s: float = 30.0) -> ConsumerConfig:
    """Durable pull consumer shared by every worker of ``model`` (the consumer group)."""
    return ConsumerConfig(
        durable_name=subjects.request_consumer(model),
        filter_subject=subjects.request_subject(model),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait_s,
        max_deliver=5,
        max_ack_pending=10_000,
    )


OPEN_CHATS_TTL_S = DAY
"""How long an ``OpenChat`` is kept: longer than the chunk capture, so a re-attach after
the capture expired is told so (410) rather than "no such chat" (404)."""


def open_chats_kv_config() -> KeyValueConfig:
    return KeyValueConfig(
        bucket=subjects.OPEN_CHATS_BUCKET,
        description="accepted chats (owner, deadline) and each conversation's running chat",
        history=1,
        ttl=OPEN_CHATS_TTL_S,
        storage=StorageType.FILE,
    )


async def ensure_streams(
    js: JetStreamContext, chunk_max_age_s: float = 15 * MINUTE, *, identity: str | None = None
) -> None:
    """Create the streams and buckets that are missing; update the configuration of those
    ``identity`` owns (``contracts.permissions.STREAM_OWNERS``; None: a bus without
    users, every one)."""
    for config in (
        request_stream_config(),
        chunk_stream_config(chunk_max_age_s),
        event_stream_config(),
    ):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            with contextlib.suppress(BadRequestError):  # another service created it meanwhile
                await js.add_stream(config)
        else:
            if may_update(identity, config.name):
                await js.update_stream(config)
    await ensure_model_admin(js, identity=identity)
    await ensure_bucket(js, open_chats_kv_config())


# --- model admin (issue 5) ---------------------------------------------------------------
WORKER_STATUS_TTL_S = 60.0
"""``worker_status`` bucket TTL: an entry is removed this long after its worker's last
heartbeat (a worker is already *gone* after 3 heartbeat intervals; this only bounds the
bucket)."""
DESIRED_STATE_HISTORY = 16
"""Past desired states kept per group (``kv.history(group)``): the audit trail of swaps."""


def admin_stream_config() -> StreamConfig:
    # Commands and swap statuses: small, rare, worth keeping for audit. Commands are
    # de-duplicated by command id (Nats-Msg-Id) within the window.
    return StreamConfig(
        name=subjects.ADMIN_STREAM,
        subjects=[subjects.ADMIN_COMMAND_SUBJECTS, subjects.ADMIN_STATUS_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=30 * DAY,
        max_msgs=100_000,
        duplicate_window=10 * MINUTE,
        discard=DiscardPolicy.OLD,
    )


def desired_state_kv_config() -> KeyValueConfig:
    return KeyValueConfig(
        bucket=subjects.DESIRED_STATE_BUCKET,
        description="desired profile per worker group (model-admin)",
        history=DESIRED_STATE_HISTORY,
        storage=StorageType.FILE,
    )


def worker_status_kv_config() -> KeyValueConfig:
    return KeyValueConfig(
        bucket=subjects.WORKER_STATUS_BUCKET,
        description="latest WorkerStatus per worker id",
        history=1,
        ttl=WORKER_STATUS_TTL_S,
        storage=StorageType.MEMORY,
    )


def aliases_kv_config() -> KeyValueConfig:
    return KeyValueConfig(
        bucket=subjects.MODEL_ALIASES_BUCKET,
        description="aliases re-pointed by admins (model-admin)",
        history=DESIRED_STATE_HISTORY,
        storage=StorageType.FILE,
    )


def commands_consumer_config() -> ConsumerConfig:
    """model-admin's durable view of every command (also those sent with the NATS CLI)."""
    return ConsumerConfig(
        durable_name=subjects.MODEL_ADMIN_COMMANDS_CONSUMER,
        filter_subject=subjects.ADMIN_COMMAND_SUBJECTS,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=30.0,
        max_deliver=5,
    )


async def ensure_model_admin(js: JetStreamContext, *, identity: str | None = None) -> None:
    """The ADMIN stream and the three KV buckets; creates what is missing, keeps the
    buckets as they are and updates the stream if ``identity`` owns it."""
    config = admin_stream_config()
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        with contextlib.suppress(BadRequestError):  # another service created it meanwhile
            await js.add_stream(config)
    else:
        if may_update(identity, config.name):
            await js.update_stream(config)
    for kv_config in (desired_state_kv_config(), worker_status_kv_config(), aliases_kv_config()):
        await ensure_bucket(js, kv_config)


async def ensure_bucket(js: JetStreamContext, config: KeyValueConfig) -> None:
    """Create the KV bucket if it is missing (an existing one is kept as it is)."""
    try:
        await js.key_value(config.bucket)
    except BucketNotFoundError:
        try:
            await js.create_key_value(config)
        except BadRequestError:  # created by another service meanwhile
            await js.key_value(config.bucket)
