"""Every NATS subject, stream, consumer and header name used on the bus.

This module is the only place where these names are spelled out; services import
them (a test fails on subject literals elsewhere). The version segment (``v1``) is
part of each subject so a v2 schema can run beside v1 during a rollout.
"""

from __future__ import annotations

import re

SCHEMA_VERSION = 1

# --- streams ---------------------------------------------------------------
REQUESTS_STREAM = "INFERENCE_REQUESTS"
"""Work-queue stream of chat requests; one durable consumer per model."""

CHUNKS_STREAM = "INFERENCE_CHUNKS"
"""Short-retention capture of every per-request chunk subject (replay / resume)."""

EVENTS_STREAM = "CHAT_EVENTS"
"""Durable lifecycle events (accepted / completed / failed / cancelled)."""

# --- subject prefixes --------------------------------------------------------
_REQUEST_PREFIX = "inference.request.v1"
_CHUNK_PREFIX = "inference.chunks.v1"
_CANCEL_PREFIX = "inference.cancel.v1"
_EVENT_PREFIX = "chat.events.v1"
_HEARTBEAT_PREFIX = "inference.workers.v1.heartbeat"
_RELAY_CANCEL_PREFIX = "api.v1.relay-cancel"
_RELAY_WATCH_PREFIX = "api.v1.relay-watch"

REQUEST_SUBJECTS = f"{_REQUEST_PREFIX}.>"
CHUNK_SUBJECTS = f"{_CHUNK_PREFIX}.>"
CANCEL_SUBJECTS = f"{_CANCEL_PREFIX}.*"
EVENT_SUBJECTS = f"{_EVENT_PREFIX}.>"
HEARTBEAT_SUBJECTS = f"{_HEARTBEAT_PREFIX}.*"

EVENT_ACCEPTED = f"{_EVENT_PREFIX}.accepted"
EVENT_COMPLETED = f"{_EVENT_PREFIX}.completed"
EVENT_FAILED = f"{_EVENT_PREFIX}.failed"
EVENT_CANCELLED = f"{_EVENT_PREFIX}.cancelled"

# --- request-reply (core NATS, queue group PERSISTENCE_QUEUE) -------------------------
PERSISTENCE_QUEUE = "persistence"
_ACCOUNTS = "persistence.v1.accounts"
_CONVERSATIONS = "persistence.v1.conversations"

ACCOUNT_REGISTER = f"{_ACCOUNTS}.register"
ACCOUNT_AUTHENTICATE = f"{_ACCOUNTS}.authenticate"
ACCOUNT_GET = f"{_ACCOUNTS}.get"
ACCOUNT_LIST = f"{_ACCOUNTS}.list"
ACCOUNT_UPDATE = f"{_ACCOUNTS}.update"
REFRESH_ISSUE = f"{_ACCOUNTS}.refresh.issue"
REFRESH_ROTATE = f"{_ACCOUNTS}.refresh.rotate"
REFRESH_REVOKE = f"{_ACCOUNTS}.refresh.revoke"
API_KEY_CREATE = f"{_ACCOUNTS}.keys.create"
API_KEY_LIST = f"{_ACCOUNTS}.keys.list"
API_KEY_REVOKE = f"{_ACCOUNTS}.keys.revoke"
API_KEY_VERIFY = f"{_ACCOUNTS}.keys.verify"
SETTINGS_GET = f"{_ACCOUNTS}.settings.get"
SETTINGS_PUT = f"{_ACCOUNTS}.settings.put"

PERSISTENCE_PING = "persistence.v1.ping"
"""``Ping`` -> ``Reply[Ack]`` once the database answers (the api's ``/readyz``)."""

CONV_CREATE = f"{_CONVERSATIONS}.create"
CONV_LIST = f"{_CONVERSATIONS}.list"
CONV_GET = f"{_CONVERSATIONS}.get"
CONV_UPDATE = f"{_CONVERSATIONS}.update"
CONV_DELETE = f"{_CONVERSATIONS}.delete"

ACCOUNT_CHANGES = "persistence.v1.account-changes"
"""Core subject: ``AccountChanged`` after a user, an API key or a user's settings change,
so every api instance drops what it cached of that user at once."""

PERSISTENCE_EVENTS_CONSUMER = "persistence"
"""Durable consumer of EVENTS_STREAM that stores conversation messages."""

# --- headers -------------------------------------------------------------------
MSG_ID_HEADER = "Nats-Msg-Id"
"""JetStream de-duplication header; events use ``event_msg_id``."""

# NATS subject tokens may not contain whitespace, '.', '*' or '>'.
_TOKEN_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def subject_token(value: str) -> str:
    """Turn a model id (``org/model-1.5B``) or request id into one safe subject token."""
    token = _TOKEN_UNSAFE.sub("_", value)
    if not token:
        raise ValueError("empty subject token")
    return token


def request_subject(model: str) -> str:
    """Where chat requests for ``model`` are published (JetStream, work queue)."""
    return f"{_REQUEST_PREFIX}.{subject_token(model)}"


def request_consumer(model: str) -> str:
    """Durable consumer name shared by every worker serving ``model``."""
    return f"workers-{subject_token(model)}"


def chunk_subject(relay: str, request_id: str) -> str:
    """The subject the owning worker streams a request's chunks on (core publish): under
    the relay that asked for them (``ChatRequest.relay``, the api instance that accepted
    the request), so that instance reads the chunks of all its requests through one
    subscription (``relay_chunk_subjects``) instead of one per request."""
    return f"{_CHUNK_PREFIX}.{subject_token(relay)}.{subject_token(request_id)}"


def relay_chunk_subjects(relay: str) -> str:
    """The chunks of every request the relay asked for."""
    return f"{_CHUNK_PREFIX}.{subject_token(relay)}.*"


def request_chunk_subjects(request_id: str) -> str:
    """The chunks of one request whichever relay asked for them: for a client re-attached
    to an answer another instance relays, and to read the capture back."""
    return f"{_CHUNK_PREFIX}.*.{subject_token(request_id)}"


def request_id_of_chunk(subject: str) -> str:
    """The request id token of a chunk subject."""
    return subject[subject.rindex(".") + 1 :]


def cancel_subject(request_id: str) -> str:
    """Core subject the api publishes a cancel on; every worker listens to all."""
    return f"{_CANCEL_PREFIX}.{subject_token(request_id)}"


RELAY_CANCEL_SUBJECTS = f"{_RELAY_CANCEL_PREFIX}.*"


def relay_cancel_subject(request_id: str) -> str:
    """Core request-reply: "cancel this chat", answered by the api instance relaying it."""
    return f"{_RELAY_CANCEL_PREFIX}.{subject_token(request_id)}"


RELAY_WATCH_SUBJECTS = f"{_RELAY_WATCH_PREFIX}.*"
RELAY_WATCH_INTERVAL_S = 10.0
"""How often a re-attached client's api instance says ``RelayWatch``."""


def relay_watch_subject(request_id: str) -> str:
    """Core: "a client watches this chat", heard by the api instance that accepted it."""
    return f"{_RELAY_WATCH_PREFIX}.{subject_token(request_id)}"


OPEN_CHATS_BUCKET = "open_chats"
"""KV: ``OpenChat`` per accepted chat (``open_chat_key``) and, for a chat in a saved
conversation, the conversation's running request id (``conversation_chat_key``)."""


def open_chat_key(request_id: str) -> str:
    return f"request.{subject_token(request_id)}"


def conversation_chat_key(conversation_id: str) -> str:
    return f"conversation.{subject_token(conversation_id)}"


def heartbeat_subject(worker_id: str) -> str:
    """Core subject a worker publishes its status on every heartbeat interval."""
    return f"{_HEARTBEAT_PREFIX}.{subject_token(worker_id)}"


def event_msg_id(request_id: str, kind: str) -> str:
    """De-duplication id for a lifecycle event.

    All terminal events (completed / failed / cancelled) share one id per request, so
    when two parties both report the end of a request (the worker says "cancelled", the
    api says "worker lost") JetStream keeps only the first one.
    """
    terminal = kind in ("completed", "failed", "cancelled")
    return f"{request_id}:{'terminal' if terminal else kind}"


# --- metering (issue 4: usage records and usage queries) ------------------------------
METERING_EVENTS_CONSUMER = "metering"
"""Durable consumer of EVENTS_STREAM that records one usage row per request."""

METERING_QUEUE = "metering"
"""Queue group of the metering service's request-reply subjects."""

_USAGE = "metering.v1.usage"
USAGE_SUMMARY = f"{_USAGE}.summary"
"""``UsageQuery`` -> ``Reply[UsageSummary]``: totals, per day, per model (, per user)."""
USAGE_RECORDS = f"{_USAGE}.records"
"""``ListUsageRecords`` -> ``Reply[UsageRecordPage]``: raw records, keyset pages."""
METERING_PING = "metering.v1.ping"
"""``Ping`` -> ``Reply[Ack]`` once the database answers (the api's ``/readyz``)."""


# --- trace context (issue 4: OpenTelemetry tracing across the bus) ---------------------
TRACEPARENT_HEADER = "traceparent"
"""W3C Trace Context header on NATS messages (see ``contracts.tracing``): set on the
``ChatRequest`` publish and on lifecycle events and persistence requests when tracing is on."""

TRACESTATE_HEADER = "tracestate"
"""W3C Trace Context vendor state; travels with ``traceparent`` when present."""


# --- model admin (issue 5: profiles, desired state, swaps, worker status) -------------
# A worker *group* is the set of workers that share one request consumer group: its name
# is the served model name of ``request_subject(group)`` / ``request_consumer(group)``.
ADMIN_STREAM = "MODEL_ADMIN"
"""Durable stream of model commands and the swap statuses workers report."""

_ADMIN_COMMAND_PREFIX = "model-admin.v1.commands"
_ADMIN_STATUS_PREFIX = "model-admin.v1.status"
_ADMIN_RPC = "model-admin.v1.rpc"

ADMIN_COMMAND_SUBJECTS = f"{_ADMIN_COMMAND_PREFIX}.*"
ADMIN_STATUS_SUBJECTS = f"{_ADMIN_STATUS_PREFIX}.*"

ADMIN_CHANGES = "model-admin.v1.changes"
"""Core subject: ``AdminChange`` whenever a worker, a swap or a desired state changes."""
ADMIN_ACTIVATIONS = "model-admin.v1.activations"
"""Core subject: ``ActivationOutcome`` of every ``ADMIN_ACTIVATE`` (the command sent, or
why not), also of one published without a reply inbox (``nats pub``)."""

MODEL_ADMIN_QUEUE = "model-admin"
"""Queue group of the model-admin request-reply subjects and of its heartbeat mirror."""

MODEL_ADMIN_COMMANDS_CONSUMER = "model-admin-commands"
"""Durable consumer of ADMIN_STREAM through which model-admin records the desired state
of commands published straight onto the bus (NATS CLI)."""

DESIRED_STATE_BUCKET = "model_desired_state"
"""JetStream KV: key = ``subject_token(group)``, value = ``DesiredState`` (history kept)."""
WORKER_STATUS_BUCKET = "worker_status"
"""JetStream KV: key = ``subject_token(worker_id)``, value = the latest ``WorkerStatus``
(bucket TTL: an entry expires when its worker stops writing)."""
MODEL_ALIASES_BUCKET = "model_aliases"
"""JetStream KV: key ``ALIASES_KEY``, value = ``AliasOverrides`` (admin re-pointed aliases)."""
ALIASES_KEY = "overrides"

ADMIN_PING = f"{_ADMIN_RPC}.ping"
"""``Ping`` -> ``Reply[Ack]`` (the api's ``/readyz``)."""
ADMIN_PROFILES_LIST = f"{_ADMIN_RPC}.profiles.list"
"""``ListProfiles`` -> ``Reply[ProfileList]``."""
ADMIN_PROFILES_GET = f"{_ADMIN_RPC}.profiles.get"
"""``GetProfile`` -> ``Reply[ProfileDetail]``."""
ADMIN_PROFILES_ADD = f"{_ADMIN_RPC}.profiles.add"
"""``AddProfile`` -> ``Reply[ProfileDetail]``."""
ADMIN_PROFILES_CHECK = f"{_ADMIN_RPC}.profiles.check"
"""``CheckProfile`` -> ``Reply[CheckResult]`` (dry run, nothing changes)."""
ADMIN_ACTIVATE = f"{_ADMIN_RPC}.activate"
"""``ActivateRequest`` -> ``Reply[ActivateAccepted]``."""
ADMIN_ALIAS_RESOLVE = f"{_ADMIN_RPC}.aliases.resolve"
"""``ResolveModel`` -> ``Reply[ResolvedModel]``."""
ADMIN_ALIAS_SET = f"{_ADMIN_RPC}.aliases.set"
"""``SetAlias`` -> ``Reply[ResolvedModel]``."""
ADMIN_WORKERS_LIST = f"{_ADMIN_RPC}.workers.list"
"""``ListWorkers`` -> ``Reply[WorkerList]``."""
ADMIN_SWAPS_STATUS = f"{_ADMIN_RPC}.swaps.status"
"""``SwapStatusQuery`` -> ``Reply[SwapReportList]``."""


def command_subject(group: str) -> str:
    """Where ``ActivateProfile`` commands for worker ``group`` go (JetStream, ADMIN_STREAM)."""
    return f"{_ADMIN_COMMAND_PREFIX}.{subject_token(group)}"


def swap_status_subject(worker_id: str) -> str:
    """Where worker ``worker_id`` reports ``SwapStatus`` (JetStream, ADMIN_STREAM)."""
    return f"{_ADMIN_STATUS_PREFIX}.{subject_token(worker_id)}"


_FAMILIES = (
    REQUEST_SUBJECTS,
    CHUNK_SUBJECTS,
    CANCEL_SUBJECTS,
    EVENT_SUBJECTS,
    HEARTBEAT_SUBJECTS,
    RELAY_CANCEL_SUBJECTS,
    RELAY_WATCH_SUBJECTS,
    ADMIN_COMMAND_SUBJECTS,
    ADMIN_STATUS_SUBJECTS,
)
_FAMILY_PREFIXES = tuple((pattern[:-1], pattern) for pattern in _FAMILIES)


def subject_family(subject: str) -> str:
    """The wildcard family a per-model / per-request / per-worker subject belongs to
    (``inference.cancel.v1.r1`` -> ``inference.cancel.v1.*``), else the subject itself: a
    metric label that stays bounded however many chats and workers there are."""
    for prefix, pattern in _FAMILY_PREFIXES:
        if subject.startswith(prefix):
            return pattern
    return subject
