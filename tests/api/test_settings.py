from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chat_api.settings import ApiSettings
from env_settings import SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults(tmp_path: Path) -> None:
    settings = ApiSettings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.cors_origins == ("http://localhost:3000",)
    assert settings.models == ("gemma3-270m",)
    assert settings.default_model == "gemma3-270m"
    assert settings.request_timeout_s == 120.0
    assert settings.worker_stale_after_s == 3.0
    # no admission by load unless asked: an engine on the same cores makes the api lag
    assert settings.max_loop_lag_ms == 0.0
    assert not settings.expose_timeline


def test_load_and_timeline_settings(tmp_path: Path) -> None:
    settings = ApiSettings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "API_MAX_LOOP_LAG_MS": "50",
            "OVERLOAD_RETRY_AFTER_S": "3",
            "API_EXPOSE_TIMELINE": "true",
        }
    )
    assert (settings.max_loop_lag_ms, settings.overload_retry_after_s) == (50.0, 3)
    assert settings.expose_timeline


def test_generated_secret_is_private_and_reused(tmp_path: Path) -> None:
    first = ApiSettings.from_env({"DATA_DIR": str(tmp_path)}).jwt_secret
    mode = stat.S_IMODE((tmp_path / "jwt_secret").stat().st_mode)
    assert mode == 0o600
    assert ApiSettings.from_env({"DATA_DIR": str(tmp_path)}).jwt_secret == first
    assert len(first) >= 32


def test_env_values(tmp_path: Path) -> None:
    settings = ApiSettings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "JWT_SECRET": "abc" * 11,
            "MODELS": "a, b ,,c",
            "DEFAULT_MODEL": "b",
            "CORS_ORIGINS": "http://x, http://y",
            "GATEWAY_PORT": "9000",
        }
    )
    assert settings.jwt_secret == "abc" * 11
    assert not (tmp_path / "jwt_secret").exists()
    assert settings.models == ("a", "b", "c")
    assert settings.default_model == "b"
    assert settings.cors_origins == ("http://x", "http://y")
    assert settings.port == 9000


def test_default_model_always_whitelisted(tmp_path: Path) -> None:
    settings = ApiSettings.from_env(
        {"DATA_DIR": str(tmp_path), "JWT_SECRET": "k" * 32, "MODELS": "a", "DEFAULT_MODEL": "z"}
    )
    assert settings.models == ("z", "a")


FLOATS = [
    "NATS_CONNECT_TIMEOUT_S",
    "REQUEST_TIMEOUT_S",
    "WORKER_STALE_AFTER_S",
    "SHUTDOWN_GRACE_S",
    "ACCESS_TOKEN_TTL_S",
    "REFRESH_TOKEN_TTL_S",
    "AUTH_CACHE_TTL_S",
    "PERSISTENCE_TIMEOUT_S",
    "TITLE_TIMEOUT_S",
    "METERING_TIMEOUT_S",
    "REDIS_TIMEOUT_S",
    "QUEUE_POLL_INTERVAL_S",
    "LOG_SAMPLE_MESSAGES",
    "MODEL_ADMIN_TIMEOUT_S",
    "MODEL_RESOLVE_TTL_S",
]
INTEGERS = [
    "GATEWAY_PORT",
    "MAX_INPUT_CHARS",
    "MAX_MESSAGES",
    "MAX_TOKENS_LIMIT",
    "USAGE_CSV_PAGE_SIZE",
    "USAGE_MAX_RANGE_DAYS",
    "QUEUE_RETRY_AFTER_S",
    "LIMIT_DEFAULT_OUTPUT_TOKENS",
    "MAX_QUEUE_DEPTH",
    *(
        f"LIMIT_{scope}_{kind}"
        for scope in ("USER", "ADMIN", "USER_KEY", "ADMIN_KEY")
        for kind in ("RPM", "TPM", "CONCURRENT")
    ),
]
FLAG_FIELDS = {
    "ALLOW_REGISTRATION": "allow_registration",
    "ADMIN_CAN_READ_CONVERSATIONS": "admin_can_read_conversations",
    "AUTO_TITLE": "auto_title",
    "API_METRICS_ENABLED": "metrics_enabled",
    "RATE_LIMIT_FAIL_OPEN": "rate_limit_fail_open",
}
FLAGS = list(FLAG_FIELDS)


@pytest.mark.parametrize("name", FLOATS + INTEGERS + FLAGS)
def test_a_bad_value_names_the_variable(tmp_path: Path, name: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}"):
        ApiSettings.from_env({"DATA_DIR": str(tmp_path), "JWT_SECRET": "k" * 32, name: "abc"})


@pytest.mark.parametrize("name", FLOATS + INTEGERS)
def test_a_blank_value_is_the_default(tmp_path: Path, name: str) -> None:
    env = {"DATA_DIR": str(tmp_path), "JWT_SECRET": "k" * 32}
    assert ApiSettings.from_env({**env, name: " "}) == ApiSettings.from_env(env)


@pytest.mark.parametrize("name", FLAGS)
def test_a_blank_flag_is_false_but_unset_is_the_default(tmp_path: Path, name: str) -> None:
    """As the api always read them: ``ALLOW_REGISTRATION=`` keeps registration closed."""
    env = {"DATA_DIR": str(tmp_path), "JWT_SECRET": "k" * 32}
    field = FLAG_FIELDS[name]
    assert getattr(ApiSettings.from_env(env), field) is (name != "ADMIN_CAN_READ_CONVERSATIONS")
    assert getattr(ApiSettings.from_env({**env, name: " "}), field) is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GATEWAY_PORT", "70000", "GATEWAY_PORT='70000': must be <= 65535"),
        ("GATEWAY_PORT", "-1", "GATEWAY_PORT='-1': must be >= 0"),
        ("LOG_SAMPLE_MESSAGES", "1.5", "LOG_SAMPLE_MESSAGES='1.5': must be <= 1"),
        ("LIMIT_USER_RPM", "-1", "LIMIT_USER_RPM='-1': must be >= 0"),
        ("MODEL_ADMIN_TIMEOUT_S", "0", "MODEL_ADMIN_TIMEOUT_S='0': must be > 0"),
        ("MODEL_RESOLVE_TTL_S", "-1", "MODEL_RESOLVE_TTL_S='-1': must be >= 0"),
        ("REQUEST_TIMEOUT_S", "nan", "REQUEST_TIMEOUT_S='nan': expected a number"),
    ],
)
def test_out_of_bounds(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        ApiSettings.from_env({"DATA_DIR": str(tmp_path), "JWT_SECRET": "k" * 32, name: value})
    assert str(caught.value) == message


def test_numbers_and_flags_from_env(tmp_path: Path) -> None:
    settings = ApiSettings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "JWT_SECRET": "k" * 32,
            "AUTH_CACHE_TTL_S": "0",
            "USAGE_CSV_PAGE_SIZE": "5000",
            "QUEUE_RETRY_AFTER_S": "0",
            "LIMIT_USER_RPM": "0",
            "ALLOW_REGISTRATION": "off",
            "ADMIN_CAN_READ_CONVERSATIONS": " Yes ",
        }
    )
    assert settings.auth_cache_ttl_s == 0.0
    assert settings.usage_page_size == 1000  # clamped to 1..1000, as before
    assert settings.queue_retry_after_s == 1  # at least 1, as before
    assert settings.rate_limits.user.rpm == 0
    assert (settings.allow_registration, settings.admin_can_read_conversations) == (False, True)


def test_python_m_chat_api_rejects_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "JWT_SECRET": "k" * 32,
        "GATEWAY_PORT": "abc",
    }
    done = subprocess.run(
        [sys.executable, "-m", "chat_api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "chat_api: bad setting: GATEWAY_PORT='abc': expected an integer"
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OTEL_TRACES_EXPORTER", "zipkin"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
)
def test_bad_tracing_settings_are_refused_at_load(variable: str, value: str) -> None:
    """Named at start-up like every other variable, not later when tracing is set up."""
    env = {"JWT_SECRET": "x" * 32, "OTEL_TRACES_EXPORTER": "otlp", variable: value}
    with pytest.raises(SettingsError, match=f"{variable}='{value}'"):
        ApiSettings.from_env(env)
    assert ApiSettings.from_env({"JWT_SECRET": "x" * 32}).otel_traces_exporter == "none"


@pytest.mark.parametrize("secret", ["short", "x" * 31, "é" * 15])
def test_a_jwt_secret_under_32_bytes_refuses_to_start(tmp_path: Path, secret: str) -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET must be at least 32 bytes"):
        ApiSettings.from_env({"DATA_DIR": str(tmp_path), "JWT_SECRET": secret})
    assert ApiSettings.from_env({"DATA_DIR": str(tmp_path), "JWT_SECRET": "é" * 16}).jwt_secret
