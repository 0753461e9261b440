"""The settings every service that owns a database reads the same way (persistence,
metering): NATS, the database, the event consumer, draining, metrics, tracing and logs.

A service subclasses ``DatabaseServiceSettings`` (its own defaults and fields) and reads
the common variables with ``read_database_service_env``: ``NATS_URL``, ``DATA_DIR``, the
``OTEL_*`` and ``LOG_*`` variables are shared with the platform; the rest carry the
service's prefix (``PERSISTENCE_DB_POOL_SIZE``, ``METERING_DB_POOL_SIZE``...). A bad
value raises ``SettingsError`` naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, TypedDict

import msgspec

from env_settings import (
    SettingsError,
    env_bool,
    env_float,
    env_int,
    env_nats_url,
    env_opt,
    env_otel_traces,
)
from structured_logs import LogFormat, log_settings_from_env

DB_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class DatabaseServiceSettings(msgspec.Struct, frozen=True, kw_only=True):
    db_file_name: ClassVar[str] = "service.db"
    """The SQLite file in ``data_dir`` when no database URL is set (the embedded default)."""

    nats_url: str = "nats://127.0.0.1:4222"
    data_dir: Path = Path(".data")
    database_url: str | None = None
    """None: the SQLite file ``<data_dir>/<db_file_name>``."""
    migrate: bool = True
    """Run the migrations (``upgrade head``) at start."""
    db_retry_max_s: float = 10.0
    """Longest back-off between attempts while the database is unreachable."""
    db_pool_size: int = 5
    db_timeout_s: float = 10.0
    """Connect / pool timeout of one database attempt (statement timeout 3x)."""
    nats_connect_timeout_s: float = 60.0
    rpc_concurrency: int = 16
    """Requests handled at once (each in its own task)."""
    events_batch: int = 64
    """Events fetched per pull."""
    events_poll_s: float = 1.0
    events_ack_wait_s: float = 30.0
    drain_timeout_s: float = 10.0
    metrics_port: int = 0
    """``<PREFIX>_METRICS_PORT``: serve /metrics here (0 = no endpoint, no metrics)."""
    metrics_host: str = "127.0.0.1"
    otel_traces_exporter: str = "none"
    """``OTEL_TRACES_EXPORTER``: ``none`` (no tracing at all), ``otlp`` or ``console``."""
    otel_exporter_otlp_protocol: str = "http/protobuf"
    otel_service_name: str = "llmchat-service"
    log_level: str = "INFO"
    log_format: LogFormat = "json"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / self.db_file_name}"


class DatabaseServiceEnv(TypedDict):
    """The common fields as read from the environment (keyword arguments of a subclass)."""

    nats_url: str
    data_dir: Path
    database_url: str | None
    migrate: bool
    db_retry_max_s: float
    db_pool_size: int
    db_timeout_s: float
    nats_connect_timeout_s: float
    rpc_concurrency: int
    events_batch: int
    events_poll_s: float
    events_ack_wait_s: float
    drain_timeout_s: float
    metrics_port: int
    metrics_host: str
    otel_traces_exporter: str
    otel_exporter_otlp_protocol: str
    otel_service_name: str
    log_level: str
    log_format: LogFormat


def read_database_service_env(
    env: Mapping[str, str],
    prefix: str,
    defaults: DatabaseServiceSettings,
    *,
    database_url_var: str,
) -> DatabaseServiceEnv:
    """The common fields from ``env``: ``<prefix>_<NAME>`` for the service's own knobs,
    ``database_url_var`` for its database, ``defaults`` (the subclass's defaults) where a
    variable is unset."""

    def var(name: str) -> str:
        return f"{prefix}_{name}"

    database_url = env_opt(env, database_url_var)
    if database_url is not None and not database_url.startswith(DB_SCHEMES):
        raise SettingsError(
            f"{database_url_var}: expected a URL starting with {' or '.join(DB_SCHEMES)}"
        )
    log_level, log_format = log_settings_from_env(env)
    traces_exporter, otlp_protocol = env_otel_traces(env)
    d = defaults
    return DatabaseServiceEnv(
        nats_url=env_nats_url(env),
        data_dir=Path(env_opt(env, "DATA_DIR") or ".data").expanduser(),
        database_url=database_url,
        migrate=env_bool(env, var("MIGRATE"), d.migrate),
        db_retry_max_s=env_float(env, var("DB_RETRY_MAX_S"), d.db_retry_max_s, finite=True),
        db_pool_size=env_int(env, var("DB_POOL_SIZE"), d.db_pool_size),
        db_timeout_s=env_float(env, var("DB_TIMEOUT_S"), d.db_timeout_s, finite=True),
        nats_connect_timeout_s=env_float(
            env, var("NATS_CONNECT_TIMEOUT_S"), d.nats_connect_timeout_s, finite=True
        ),
        rpc_concurrency=env_int(env, var("RPC_CONCURRENCY"), d.rpc_concurrency),
        events_batch=env_int(env, var("EVENTS_BATCH"), d.events_batch),
        events_poll_s=env_float(env, var("EVENTS_POLL_S"), d.events_poll_s, finite=True),
        events_ack_wait_s=env_float(
            env, var("EVENTS_ACK_WAIT_S"), d.events_ack_wait_s, finite=True
        ),
        drain_timeout_s=env_float(env, var("DRAIN_TIMEOUT_S"), d.drain_timeout_s, finite=True),
        metrics_port=env_int(env, var("METRICS_PORT"), d.metrics_port, minimum=0),
        metrics_host=env_opt(env, var("METRICS_HOST")) or d.metrics_host,
        otel_traces_exporter=traces_exporter,
        otel_exporter_otlp_protocol=otlp_protocol,
        otel_service_name=env_opt(env, "OTEL_SERVICE_NAME") or d.otel_service_name,
        log_level=log_level,
        log_format=log_format,
    )
