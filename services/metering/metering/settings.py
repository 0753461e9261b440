"""``MeteringSettings``: the one typed configuration of the service, built once from env.

Every variable is read here (the ones every database-owning service shares through
``llmchat_sql.settings``) and nowhere else. A bad value raises ``SettingsError`` naming
the variable, at start-up. ``NATS_URL`` and ``DATA_DIR`` are shared with the rest of the
platform; the service's own knobs start with ``METERING_``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar

from env_settings import SettingsError as SettingsError  # re-exported
from env_settings import env_float
from llmchat_sql.settings import DatabaseServiceSettings, read_database_service_env

DB_FILE_NAME = "metering.db"


class MeteringSettings(DatabaseServiceSettings, frozen=True, kw_only=True):
    db_file_name: ClassVar[str] = DB_FILE_NAME
    db_pool_size: int = 5
    rpc_concurrency: int = 16
    """Usage queries handled at once (each in its own task)."""
    events_batch: int = 256
    """Events fetched per pull and recorded in one transaction."""
    otel_service_name: str = "llmchat-metering"
    usage_retention_days: float = 0.0
    """Usage records older than this many days are deleted (hourly); 0 keeps them all."""


def load_settings(env: Mapping[str, str] | None = None) -> MeteringSettings:
    """Build the settings from ``env`` (default ``os.environ``); raise ``SettingsError``."""
    env = os.environ if env is None else env
    common = read_database_service_env(
        env, "METERING", MeteringSettings(), database_url_var="METERING_DATABASE_URL"
    )
    return MeteringSettings(
        **common,
        usage_retention_days=env_float(env, "METERING_USAGE_RETENTION_DAYS", 0.0, minimum=0.0),
    )
