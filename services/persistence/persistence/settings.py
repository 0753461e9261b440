"""``PersistenceSettings``: the one typed configuration of the service, built once from env.

Every variable is read here (the ones every database-owning service shares through
``llmchat_sql.settings``) and nowhere else. A bad value raises ``SettingsError`` naming
the variable, at start-up. The variables shared with the rest of the platform
(``NATS_URL``, ``DATA_DIR``, ``DATABASE_URL``, ``ADMIN_EMAIL``, ``ADMIN_PASSWORD``,
``DEV_ADMIN``) have no prefix; the service's own knobs start with ``PERSISTENCE_``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar

from env_settings import SettingsError as SettingsError  # re-exported
from env_settings import env_bool, env_int, env_opt
from llmchat_sql.settings import DatabaseServiceSettings, read_database_service_env

DB_FILE_NAME = "llmchat.db"


class PersistenceSettings(DatabaseServiceSettings, frozen=True, kw_only=True):
    db_file_name: ClassVar[str] = DB_FILE_NAME
    admin_email: str | None = None
    admin_password: str | None = None
    dev_admin: bool = False
    """Ensure the user ``dev-admin`` (admin@localhost, unusable password; ``make token``
    signs tokens for it) exists and is enabled; off, an existing one is disabled (its
    tokens stop working). Only ``make run``'s embedded launcher turns it on."""
    db_pool_size: int = 10
    rpc_concurrency: int = 64
    conversation_reply_bytes: int = 512 * 1024
    """Most bytes of conversation and messages in one ``CONV_GET`` reply (a page); keep it
    well under the NATS server's max payload (1 MB by default)."""
    otel_service_name: str = "llmchat-persistence"


def load_settings(env: Mapping[str, str] | None = None) -> PersistenceSettings:
    """Build the settings from ``env`` (default ``os.environ``); raise ``SettingsError``."""
    env = os.environ if env is None else env
    common = read_database_service_env(
        env, "PERSISTENCE", PersistenceSettings(), database_url_var="DATABASE_URL"
    )
    admin_email = env_opt(env, "ADMIN_EMAIL")
    admin_password = env.get("ADMIN_PASSWORD") or None
    if (admin_email is None) != (admin_password is None):
        raise SettingsError("ADMIN_EMAIL and ADMIN_PASSWORD must be set together")
    return PersistenceSettings(
        **common,
        admin_email=admin_email,
        admin_password=admin_password,
        dev_admin=env_bool(env, "DEV_ADMIN", False),
        conversation_reply_bytes=env_int(
            env, "PERSISTENCE_CONVERSATION_REPLY_BYTES", 512 * 1024, minimum=16 * 1024
        ),
    )
