"""JetStream stream and consumer configurations, and ``ensure_streams``.

Every service calls ``ensure_streams`` at start-up; it creates a missing stream and
updates an existing one to this configuration, so the first service up wins no race.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from contracts import subjects

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


async def ensure_streams(js: JetStreamContext, chunk_max_age_s: float = 15 * MINUTE) -> None:
    for config in (
        request_stream_config(),
        chunk_stream_config(chunk_max_age_s),
        event_stream_config(),
    ):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
