"""PersistenceSettings from env."""

from __future__ import annotations

from pathlib import Path

import pytest

from persistence.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_sqlite_file(tmp_path: Path) -> None:
    s = load_settings({"DATA_DIR": str(tmp_path)})
    assert s.db_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/llmchat.db"
    assert s.dev_admin is False  # only make run's launcher turns it on
    assert s.migrate is True
    assert (s.admin_email, s.admin_password) == (None, None)
    assert s.conversation_reply_bytes == 512 * 1024


def test_values_from_env() -> None:
    s = load_settings(
        {
            "NATS_URL": "nats://n:4222",
            "DATABASE_URL": "postgresql+asyncpg://u:p@db/llmchat",
            "ADMIN_EMAIL": "root@example.com",
            "ADMIN_PASSWORD": "s3cret-pass",
            "DEV_ADMIN": "true",
            "PERSISTENCE_DB_RETRY_MAX_S": "2.5",
            "PERSISTENCE_RPC_CONCURRENCY": "8",
            "PERSISTENCE_CONVERSATION_REPLY_BYTES": "100000",
        }
    )
    assert s.conversation_reply_bytes == 100_000
    assert s.db_url == "postgresql+asyncpg://u:p@db/llmchat"
    assert s.dev_admin is True
    assert s.db_retry_max_s == 2.5
    assert s.rpc_concurrency == 8
    assert s.admin_email == "root@example.com"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"NATS_URL": "http://x"}, "NATS_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DEV_ADMIN": "maybe"}, "DEV_ADMIN"),
        ({"PERSISTENCE_DB_RETRY_MAX_S": "0"}, "PERSISTENCE_DB_RETRY_MAX_S"),
        ({"PERSISTENCE_EVENTS_BATCH": "x"}, "PERSISTENCE_EVENTS_BATCH"),
        ({"PERSISTENCE_CONVERSATION_REPLY_BYTES": "1000"}, "PERSISTENCE_CONVERSATION_REPLY_BYTES"),
        ({"ADMIN_EMAIL": "a@b.c"}, "ADMIN_PASSWORD"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings(env)
