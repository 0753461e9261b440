"""``MeteringSettings``: the one typed configuration of the service, built once from env.

Every variable is read here and nowhere else. A bad value raises ``SettingsError``
naming the variable, at start-up. ``NATS_URL`` and ``DATA_DIR`` are shared with the rest
of the platform; the service's own knobs start with ``METERING_``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from env_settings import SettingsError as SettingsError  # re-exported
from env_settings import env_bool, env_float, env_int, env_nats_url, env_opt, env_otel_traces
from structured_logs import LogFormat, log_settings_from_env

_DB_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
DB_FILE_NAME = "metering.db"


class MeteringSettings(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: str = "nats://127.0.0.1:4222"
    data_dir: Path = Path(".data")
    database_url: str | None = None
    """None: the SQLite file ``<data_dir>/metering.db`` (the embedded default)."""
    migrate: bool = True
    """Run the migrations (``upgrade head``) at start."""
    db_retry_max_s: float = 10.0
    """Longest back-off between attempts while the database is unreachable."""
    db_pool_size: int = 5
    db_timeout_s: float = 10.0
    """Connect / pool timeout of one database attempt (statement timeout 3x)."""
    nats_connect_timeout_s: float = 60.0
    rpc_concurrency: int = 16
    """Usage queries handled at once (each in its own task)."""
    events_batch: int = 256
    """Events fetched per pull and recorded in one transaction."""
    events_poll_s: float = 1.0
    events_ack_wait_s: float = 30.0
    drain_timeout_s: float = 10.0
    # Observability (issue 4): Prometheus endpoint, OpenTelemetry tracing.
    metrics_port: int = 0
    """``METERING_METRICS_PORT``: serve /metrics here (0 = no endpoint, no metrics)."""
    metrics_host: str = "127.0.0.1"
    otel_traces_exporter: str = "none"
    """``OTEL_TRACES_EXPORTER``: ``none`` (no tracing at all), ``otlp`` or ``console``."""
    otel_exporter_otlp_protocol: str = "http/protobuf"
    otel_service_name: str = "llmchat-metering"
    # Logs: LOG_LEVEL / LOG_FORMAT, the same variables in every service.
    log_level: str = "INFO"
    log_format: LogFormat = "json"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / DB_FILE_NAME}"


def load_settings(env: Mapping[str, str] | None = None) -> MeteringSettings:
    """Build the settings from ``env`` (default ``os.environ``); raise ``SettingsError``."""
    env = os.environ if env is None else env
    log_level, log_format = log_settings_from_env(env)
    nats_url = env_nats_url(env)
    database_url = env_opt(env, "METERING_DATABASE_URL")
    if database_url is not None and not database_url.startswith(_DB_SCHEMES):
        raise SettingsError(
            f"METERING_DATABASE_URL: expected a URL starting with {' or '.join(_DB_SCHEMES)}"
        )
    traces_exporter, otlp_protocol = env_otel_traces(env)
    return MeteringSettings(
        log_level=log_level,
        log_format=log_format,
        nats_url=nats_url,
        data_dir=Path(env_opt(env, "DATA_DIR") or ".data").expanduser(),
        database_url=database_url,
        migrate=env_bool(env, "METERING_MIGRATE", True),
        db_retry_max_s=env_float(env, "METERING_DB_RETRY_MAX_S", 10.0, finite=True),
        db_pool_size=env_int(env, "METERING_DB_POOL_SIZE", 5),
        db_timeout_s=env_float(env, "METERING_DB_TIMEOUT_S", 10.0, finite=True),
        nats_connect_timeout_s=env_float(env, "METERING_NATS_CONNECT_TIMEOUT_S", 60.0, finite=True),
        rpc_concurrency=env_int(env, "METERING_RPC_CONCURRENCY", 16),
        events_batch=env_int(env, "METERING_EVENTS_BATCH", 256),
        events_poll_s=env_float(env, "METERING_EVENTS_POLL_S", 1.0, finite=True),
        events_ack_wait_s=env_float(env, "METERING_EVENTS_ACK_WAIT_S", 30.0, finite=True),
        drain_timeout_s=env_float(env, "METERING_DRAIN_TIMEOUT_S", 10.0, finite=True),
        metrics_port=env_int(env, "METERING_METRICS_PORT", 0, minimum=0),
        metrics_host=env_opt(env, "METERING_METRICS_HOST") or "127.0.0.1",
        otel_traces_exporter=traces_exporter,
        otel_exporter_otlp_protocol=otlp_protocol,
        otel_service_name=env_opt(env, "OTEL_SERVICE_NAME") or "llmchat-metering",
    )
