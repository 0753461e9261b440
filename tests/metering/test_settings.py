"""``load_settings``: defaults, every variable, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from metering.settings import MeteringSettings, SettingsError, load_settings


def test_defaults_use_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert settings.database_url is None
    assert settings.db_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'metering.db'}"
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings == MeteringSettings(data_dir=tmp_path)


def test_every_variable() -> None:
    settings = load_settings(
        {
            "NATS_URL": "nats://bus:4222",
            "DATA_DIR": "/srv/data",
            "METERING_DATABASE_URL": "postgresql+asyncpg://u:p@db/metering",
            "METERING_MIGRATE": "false",
            "METERING_DB_RETRY_MAX_S": "3",
            "METERING_DB_POOL_SIZE": "7",
            "METERING_DB_TIMEOUT_S": "4",
            "METERING_NATS_CONNECT_TIMEOUT_S": "5",
            "METERING_RPC_CONCURRENCY": "8",
            "METERING_EVENTS_BATCH": "100",
            "METERING_EVENTS_POLL_S": "0.5",
            "METERING_EVENTS_ACK_WAIT_S": "60",
            "METERING_DRAIN_TIMEOUT_S": "2",
            "METERING_USAGE_RETENTION_DAYS": "400",
        }
    )
    assert settings == MeteringSettings(
        nats_url="nats://bus:4222",
        data_dir=Path("/srv/data"),
        database_url="postgresql+asyncpg://u:p@db/metering",
        migrate=False,
        db_retry_max_s=3.0,
        db_pool_size=7,
        db_timeout_s=4.0,
        nats_connect_timeout_s=5.0,
        rpc_concurrency=8,
        events_batch=100,
        events_poll_s=0.5,
        events_ack_wait_s=60.0,
        drain_timeout_s=2.0,
        usage_retention_days=400.0,
    )
    assert settings.db_url == "postgresql+asyncpg://u:p@db/metering"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NATS_URL", "http://bus"),
        ("METERING_DATABASE_URL", "mysql://x"),
        ("METERING_MIGRATE", "maybe"),
        ("METERING_EVENTS_BATCH", "0"),
        ("METERING_EVENTS_BATCH", "many"),
        ("METERING_EVENTS_POLL_S", "-1"),
        ("METERING_DB_TIMEOUT_S", "nan"),
        ("METERING_USAGE_RETENTION_DAYS", "-1"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})
