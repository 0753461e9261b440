"""Who may do what on the bus: one NATS user per service (and one for operators), each
with publish / subscribe allow-lists built from the subjects and streams in
``contracts.subjects``. Anything not listed is refused by nats-server.

What the lists protect:
- Requests that act for a user (persistence's accounts and conversations, metering's
  usage) are accepted only from the api: no other user may publish on those subjects.
- Lifecycle events (what persistence stores and metering bills) come only from the api
  and the workers; model commands only from model-admin and ``operator``.
- Replies: each user reads its replies under its own inbox prefix (``inbox_prefix``), and
  only there; a responder may answer only the requests it received (``allow_responses``).
  Nobody can read another service's replies (conversations, API key checks).
- JetStream: each user reaches the JetStream API only for its own consumers, streams and
  buckets; nobody may delete or purge a stream. Every service creates a missing stream at
  start (they start in any order), but only the stream's owner (``STREAM_OWNERS``) updates
  its configuration.

The api's identity is trusted with every user's data: it checks the caller (JWT, API key)
before it asks on their behalf. A test derives the subjects each service uses from its
broker (the AsyncAPI documents) and checks that these lists allow exactly those, and
another shows every forbidden action refused by a real nats-server.
"""

from __future__ import annotations

from types import MappingProxyType

import msgspec

from contracts import subjects

API = "api"
WORKER = "worker"
PERSISTENCE = "persistence"
METERING = "metering"
MODEL_ADMIN = "model-admin"
OPERATOR = "operator"
"""A person with the NATS CLI (docs/operators.md): may look at every stream, bucket and
answer, send model commands and cancel chats; may not act for a user (persistence's and
metering's requests), forge events, or change, purge or delete a stream."""

IDENTITIES = (API, WORKER, PERSISTENCE, METERING, MODEL_ADMIN, OPERATOR)


def inbox_prefix(identity: str) -> str:
    """Where the user ``identity`` receives replies (and JetStream deliveries). The
    operator's is the NATS CLI's default; ``_INBOX.>`` does not reach a service's
    ``_INBOX_<service>.…``."""
    if identity == OPERATOR:
        return "_INBOX"
    return f"_INBOX_{subjects.subject_token(identity)}"


class BusPermissions(msgspec.Struct, frozen=True, kw_only=True):
    """One NATS user's allow-lists (nats-server ``permissions``)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    responds: bool = False
    """May answer the requests it received (``allow_responses``), whatever their inbox."""


def _kv(bucket: str) -> str:
    return f"KV_{bucket}"


_OPEN_CHATS = _kv(subjects.OPEN_CHATS_BUCKET)
_DESIRED = _kv(subjects.DESIRED_STATE_BUCKET)
_WORKER_STATUS = _kv(subjects.WORKER_STATUS_BUCKET)
_ALIASES = _kv(subjects.MODEL_ALIASES_BUCKET)

STREAMS = (
    subjects.REQUESTS_STREAM,
    subjects.CHUNKS_STREAM,
    subjects.EVENTS_STREAM,
    subjects.ADMIN_STREAM,
    _OPEN_CHATS,
    _DESIRED,
    _WORKER_STATUS,
    _ALIASES,
)
"""Every JetStream stream of the contracts (a KV bucket is the stream ``KV_<bucket>``)."""

STREAM_OWNERS = MappingProxyType(
    {
        subjects.REQUESTS_STREAM: API,
        subjects.CHUNKS_STREAM: API,
        subjects.EVENTS_STREAM: API,
        _OPEN_CHATS: API,
        subjects.ADMIN_STREAM: MODEL_ADMIN,
        _DESIRED: MODEL_ADMIN,
        _WORKER_STATUS: MODEL_ADMIN,
        _ALIASES: MODEL_ADMIN,
    }
)
"""The one service that updates each stream's configuration (``ensure_streams``)."""


def _js_api(*tokens: str) -> str:
    return ".".join(("$JS.API", *tokens))


def _create_streams() -> list[str]:
    """Look up, and create when missing, every stream (each service does at start)."""
    return [
        _js_api(verb, stream) for stream in STREAMS for verb in ("STREAM.INFO", "STREAM.CREATE")
    ]


def _update_streams(identity: str) -> list[str]:
    return [_js_api("STREAM.UPDATE", s) for s, owner in STREAM_OWNERS.items() if owner == identity]


def _durable(stream: str, consumer: str) -> list[str]:
    """A durable pull consumer: create / look up, fetch, acknowledge."""
    return [
        _js_api("CONSUMER.INFO", stream, consumer),
        _js_api("CONSUMER.CREATE", stream, consumer),
        _js_api("CONSUMER.CREATE", stream, consumer, ">"),
        _js_api("CONSUMER.DURABLE.CREATE", stream, consumer),
        _js_api("CONSUMER.MSG.NEXT", stream, consumer),
        f"$JS.ACK.{stream}.{consumer}.>",
    ]


def _ephemeral(stream: str) -> list[str]:
    """Short-lived consumers of ``stream`` (ordered consumers, KV watches, a replay)."""
    return [
        _js_api("CONSUMER.CREATE", stream),
        _js_api("CONSUMER.CREATE", stream, ">"),
        _js_api("CONSUMER.INFO", stream, "*"),
        _js_api("CONSUMER.MSG.NEXT", stream, "*"),
        _js_api("CONSUMER.DELETE", stream, "*"),
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def _read_messages(stream: str) -> list[str]:
    """Read single messages by sequence or last-by-subject (KV ``get``)."""
    return [
        _js_api("STREAM.MSG.GET", stream),
        _js_api("DIRECT.GET", stream),
        _js_api("DIRECT.GET", stream, ">"),
    ]


def _kv_read(bucket: str) -> list[str]:
    return [*_read_messages(_kv(bucket)), *_ephemeral(_kv(bucket))]


def _kv_write(bucket: str) -> list[str]:
    return [f"$KV.{bucket}.>"]


_PERSISTENCE_RPC = ("persistence.v1.accounts.>", "persistence.v1.conversations.>")


def _persistence_rpc() -> list[str]:
    return [*_PERSISTENCE_RPC, subjects.PERSISTENCE_PING]


def _metering_rpc() -> list[str]:
    return [subjects.USAGE_SUMMARY, subjects.USAGE_RECORDS, subjects.METERING_PING]


_ADMIN_RPC = "model-admin.v1.rpc.>"


def _own_inbox(identity: str) -> str:
    return f"{inbox_prefix(identity)}.>"


def _api() -> BusPermissions:
    return BusPermissions(
        publish=(
            subjects.REQUEST_SUBJECTS,
            subjects.CANCEL_SUBJECTS,
            subjects.EVENT_SUBJECTS,  # accepted, and "worker lost" ends
            subjects.RELAY_CANCEL_SUBJECTS,
            subjects.RELAY_WATCH_SUBJECTS,
            *_persistence_rpc(),
            *_metering_rpc(),
            _ADMIN_RPC,
            *_create_streams(),
            *_update_streams(API),
            # queue depth and positions; a chat cancelled while queued leaves the queue
            _js_api("CONSUMER.INFO", subjects.REQUESTS_STREAM, "*"),
            *_read_messages(subjects.REQUESTS_STREAM),
            _js_api("STREAM.MSG.DELETE", subjects.REQUESTS_STREAM),
            *_ephemeral(subjects.CHUNKS_STREAM),  # replay of a chat's captured chunks
            *_kv_read(subjects.OPEN_CHATS_BUCKET),
            *_kv_write(subjects.OPEN_CHATS_BUCKET),
        ),
        subscribe=(
            subjects.CHUNK_SUBJECTS,
            subjects.HEARTBEAT_SUBJECTS,
            subjects.ACCOUNT_CHANGES,
            subjects.ADMIN_CHANGES,
            subjects.ADMIN_STATUS_SUBJECTS,
            subjects.RELAY_CANCEL_SUBJECTS,
            subjects.RELAY_WATCH_SUBJECTS,
            _own_inbox(API),
        ),
        responds=True,  # relay cancels, from another api instance
    )


def _worker() -> BusPermissions:
    return BusPermissions(
        publish=(
            subjects.CHUNK_SUBJECTS,
            subjects.EVENT_SUBJECTS,
            subjects.HEARTBEAT_SUBJECTS,
            subjects.ADMIN_STATUS_SUBJECTS,
            subjects.ADMIN_PROFILES_GET,
            subjects.ADMIN_PROFILES_CHECK,
            *_create_streams(),
            *_durable(subjects.REQUESTS_STREAM, "*"),  # its model's ``workers-<model>``
            *_read_messages(subjects.REQUESTS_STREAM),  # was an ack stored after all?
            *_read_messages(subjects.ADMIN_STREAM),  # the group's last command
            *_ephemeral(subjects.ADMIN_STREAM),  # commands to its group
            *_kv_read(subjects.DESIRED_STATE_BUCKET),
        ),
        subscribe=(subjects.CANCEL_SUBJECTS, _own_inbox(WORKER)),
    )


def _persistence() -> BusPermissions:
    return BusPermissions(
        publish=(
            subjects.ACCOUNT_CHANGES,
            *_create_streams(),
            *_durable(subjects.EVENTS_STREAM, subjects.PERSISTENCE_EVENTS_CONSUMER),
        ),
        subscribe=(*_persistence_rpc(), _own_inbox(PERSISTENCE)),
        responds=True,
    )


def _metering() -> BusPermissions:
    return BusPermissions(
        publish=(
            *_create_streams(),
            *_durable(subjects.EVENTS_STREAM, subjects.METERING_EVENTS_CONSUMER),
        ),
        subscribe=(*_metering_rpc(), _own_inbox(METERING)),
        responds=True,
    )


def _model_admin() -> BusPermissions:
    buckets = (
        subjects.DESIRED_STATE_BUCKET,
        subjects.WORKER_STATUS_BUCKET,
        subjects.MODEL_ALIASES_BUCKET,
    )
    return BusPermissions(
        publish=(
            subjects.ADMIN_COMMAND_SUBJECTS,
            subjects.ADMIN_CHANGES,
            subjects.ADMIN_ACTIVATIONS,
            *_create_streams(),
            *_update_streams(MODEL_ADMIN),
            *_durable(subjects.ADMIN_STREAM, subjects.MODEL_ADMIN_COMMANDS_CONSUMER),
            *_ephemeral(subjects.ADMIN_STREAM),
            *_read_messages(subjects.ADMIN_STREAM),
            *(rule for bucket in buckets for rule in (*_kv_read(bucket), *_kv_write(bucket))),
        ),
        subscribe=(_ADMIN_RPC, subjects.HEARTBEAT_SUBJECTS, _own_inbox(MODEL_ADMIN)),
        responds=True,
    )


def _operator() -> BusPermissions:
    return BusPermissions(
        publish=(
            subjects.ADMIN_COMMAND_SUBJECTS,
            subjects.CANCEL_SUBJECTS,
            _ADMIN_RPC,
            _js_api("INFO"),
            _js_api("STREAM.NAMES"),
            _js_api("STREAM.LIST"),
            _js_api("STREAM.INFO", "*"),
            _js_api("CONSUMER.NAMES", "*"),
            _js_api("CONSUMER.LIST", "*"),
            _js_api("CONSUMER.INFO", "*", "*"),
            *(
                rule
                for stream in STREAMS
                for rule in (*_ephemeral(stream), *_read_messages(stream))
            ),
        ),
        subscribe=(
            subjects.CHUNK_SUBJECTS,
            subjects.HEARTBEAT_SUBJECTS,
            subjects.ADMIN_CHANGES,
            subjects.ADMIN_ACTIVATIONS,
            subjects.ACCOUNT_CHANGES,
            _own_inbox(OPERATOR),
        ),
    )


PERMISSIONS = MappingProxyType(
    {
        API: _api(),
        WORKER: _worker(),
        PERSISTENCE: _persistence(),
        METERING: _metering(),
        MODEL_ADMIN: _model_admin(),
        OPERATOR: _operator(),
    }
)
"""The bus users and what each may do."""


def may_update(identity: str | None, stream: str) -> bool:
    """Whether a service connected as ``identity`` updates ``stream``'s configuration
    (None: a bus without users, where every service keeps every stream up to date)."""
    return identity is None or STREAM_OWNERS.get(stream) == identity
