"""Where a chat's time to first token went, stage by stage.

The api stamps a chat as it goes (``ApiStamps``, ``time.time_ns()``): the outermost
middleware when the HTTP request arrives, the chat service when the request reaches it,
when it starts publishing and when the publish is acked; the
relay when the first token chunk arrives; the SSE writer when it has handed the first
token frame to the server. The worker's stamps (``WorkerTimeline``) come with the last
chunk. ``first_token_stages`` turns both into milliseconds per stage:

- ``http_in``: the HTTP request arrived -> it reached the chat service (middlewares,
  authentication, body decoding and validation)
- ``accept``: it reached the chat service -> publishing (defaults, conversation,
  routing, admission)
- ``publish``: publishing -> JetStream acked (the chunk subscription and the publish)
- ``to_worker``: publishing -> the worker's fetch returned it (overlaps ``publish``)
- ``worker_ack``: fetched -> the worker's ack confirmed (overlaps ``prompt`` and
  ``engine``: the worker starts the generation while the ack travels, and sends nothing
  before it is confirmed)
- ``prompt``: fetched -> handed to the engine (decoding, template, tokenizer)
- ``engine``: handed to the engine -> its first output (queueing in the engine, prefill)
- ``worker_send``: first output -> first chunk handed to the worker's NATS client
- ``to_api``: first chunk sent -> the relay received it
- ``api_write``: received -> its SSE frame handed to the server
- ``ttft``: the HTTP request arrived -> first token frame handed to the server

Stages across the two processes compare two clocks: exact on one host, off by the clock
difference across hosts.
"""

from __future__ import annotations

from contracts.inference import WorkerTimeline

FIRST_TOKEN_STAGES = (
    "http_in",
    "accept",
    "publish",
    "to_worker",
    "worker_ack",
    "prompt",
    "engine",
    "worker_send",
    "to_api",
    "api_write",
    "ttft",
)


class ApiStamps:
    """The api's stamps of one chat (0: not reached)."""

    __slots__ = (
        "first_chunk_received",
        "first_token_written",
        "handler",
        "publishing",
        "queued",
        "received",
    )

    def __init__(self, received: int, handler: int = 0) -> None:
        self.received = received
        """The HTTP request arrived."""
        self.handler = handler or received
        """It reached the chat service."""
        self.publishing = 0
        self.queued = 0
        self.first_chunk_received = 0
        self.first_token_written = 0


def _ms(start: int, end: int) -> float | None:
    return None if not start or not end else round((end - start) / 1e6, 3)


def first_token_stages(api: ApiStamps, worker: WorkerTimeline | None) -> dict[str, float]:
    """Milliseconds per stage (see the module), for the stages both ends of which were
    stamped; the worker's stages are missing without its timeline."""
    spans: dict[str, tuple[int, int]] = {
        "http_in": (api.received, api.handler),
        "accept": (api.handler, api.publishing),
        "publish": (api.publishing, api.queued),
        "api_write": (api.first_chunk_received, api.first_token_written),
        "ttft": (api.received, api.first_token_written),
    }
    if worker is not None:
        spans |= {
            "to_worker": (api.publishing, worker.fetched),
            "worker_ack": (worker.fetched, worker.acked),
            "prompt": (worker.fetched, worker.engine_submitted),
            "engine": (worker.engine_submitted, worker.first_output),
            "worker_send": (worker.first_output, worker.first_chunk_sent),
            "to_api": (worker.first_chunk_sent, api.first_chunk_received),
        }
    stages: dict[str, float] = {}
    for stage in FIRST_TOKEN_STAGES:
        span = spans.get(stage)
        if span is not None and (ms := _ms(*span)) is not None:
            stages[stage] = ms
    return stages
