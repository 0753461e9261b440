"""``PersistenceSettings``: the one typed configuration of the service, built once from env.

Every variable is read here and nowhere else. A bad value raises ``SettingsError``
naming the variable, at start-up. The variables shared with the rest of the platform
(``NATS_URL``, ``DATA_DIR``, ``DATABASE_URL``, ``ADMIN_EMAIL``, ``ADMIN_PASSWORD``,
``DEV_ADMIN``) have no prefix; the service's own knobs start with ``PERSISTENCE_``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from env_settings import SettingsError as SettingsError  # re-exported
from env_settings import env_bool, env_float, env_int, env_nats_url, env_opt, env_otel_traces
from structured_logs import log_settings_from_env

_DB_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
DB_FILE_NAME = "llmchat.db"


class PersistenceSettings(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: str = "nats://127.0.0.1:4222"
    data_dir: Path = Path(".data")
    database_url: str | None = None
    """None: the SQLite file ``<data_dir>/llmchat.db`` (the embedded default)."""
    admin_email: str | None = None
    admin_password: str | None = None
    dev_admin: bool = True
    """Ensure the user ``dev-admin`` (admin@localhost, unusable password) exists."""
    migrate: bool = True
    """Run ``alembic upgrade head`` at start."""
    db_retry_max_s: float = 10.0
    """Longest back-off between attempts while the database is unreachable."""
    db_pool_size: int = 10
    db_timeout_s: float = 10.0
    """Connect / statement timeout of one database attempt."""
    nats_connect_timeout_s: float = 60.0
    rpc_concurrency: int = 64
    """Requests handled at once (each in its own task)."""
    conversation_reply_bytes: int = 512 * 1024
    """Most bytes of conversation and messages in one ``CONV_GET`` reply (a page); keep it
    well under the NATS server's max payload (1 MB by default)."""
    events_batch: int = 64
    events_poll_s: float = 1.0
    events_ack_wait_s: float = 30.0
    drain_timeout_s: float = 10.0
    # Observability (issue 4): Prometheus endpoint, OpenTelemetry tracing.
    metrics_port: int = 0
    """``PERSISTENCE_METRICS_PORT``: serve /metrics here (0 = no endpoint, no metrics)."""
    metrics_host: str = "127.0.0.1"
    otel_traces_exporter: str = "none"
    """``OTEL_TRACES_EXPORTER``: ``none`` (no tracing at all), ``otlp`` or ``console``."""
    otel_exporter_otlp_protocol: str = "http/protobuf"
    otel_service_name: str = "llmchat-persistence"
    # Logs (issue 4): LOG_LEVEL / LOG_FORMAT, the same variables in every service.
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / DB_FILE_NAME}"


def load_settings(env: Mapping[str, str] | None = None) -> PersistenceSettings:
    """Build the settings from ``env`` (default ``os.environ``); raise ``SettingsError``."""
    env = os.environ if env is None else env
    log_level, log_format = log_settings_from_env(env)
    nats_url = env_nats_url(env)
    database_url = env_opt(env, "DATABASE_URL")
    if database_url is not None and not database_url.startswith(_DB_SCHEMES):
        raise SettingsError(
            f"DATABASE_URL: expected a URL starting with {' or '.join(_DB_SCHEMES)}"
        )
    admin_email = env_opt(env, "ADMIN_EMAIL")
    admin_password = env.get("ADMIN_PASSWORD") or None
    if (admin_email is None) != (admin_password is None):
        raise SettingsError("ADMIN_EMAIL and ADMIN_PASSWORD must be set together")
    traces_exporter, otlp_protocol = env_otel_traces(env)
    return PersistenceSettings(
        nats_url=nats_url,
        data_dir=Path(env_opt(env, "DATA_DIR") or ".data").expanduser(),
        database_url=database_url,
        admin_email=admin_email,
        admin_password=admin_password,
        dev_admin=env_bool(env, "DEV_ADMIN", True),
        migrate=env_bool(env, "PERSISTENCE_MIGRATE", True),
        db_retry_max_s=env_float(env, "PERSISTENCE_DB_RETRY_MAX_S", 10.0),
        db_pool_size=env_int(env, "PERSISTENCE_DB_POOL_SIZE", 10),
        db_timeout_s=env_float(env, "PERSISTENCE_DB_TIMEOUT_S", 10.0),
        nats_connect_timeout_s=env_float(env, "PERSISTENCE_NATS_CONNECT_TIMEOUT_S", 60.0),
        rpc_concurrency=env_int(env, "PERSISTENCE_RPC_CONCURRENCY", 64),
        conversation_reply_bytes=env_int(
            env, "PERSISTENCE_CONVERSATION_REPLY_BYTES", 512 * 1024, minimum=16 * 1024
        ),
        events_batch=env_int(env, "PERSISTENCE_EVENTS_BATCH", 64),
        events_poll_s=env_float(env, "PERSISTENCE_EVENTS_POLL_S", 1.0),
        events_ack_wait_s=env_float(env, "PERSISTENCE_EVENTS_ACK_WAIT_S", 30.0),
        drain_timeout_s=env_float(env, "PERSISTENCE_DRAIN_TIMEOUT_S", 10.0),
        metrics_port=env_int(env, "PERSISTENCE_METRICS_PORT", 0, minimum=0),
        metrics_host=env_opt(env, "PERSISTENCE_METRICS_HOST") or "127.0.0.1",
        otel_traces_exporter=traces_exporter,
        otel_exporter_otlp_protocol=otlp_protocol,
        otel_service_name=env_opt(env, "OTEL_SERVICE_NAME") or "llmchat-persistence",
        log_level=log_level,
        log_format=log_format,
    )
