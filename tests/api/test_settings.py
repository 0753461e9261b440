from __future__ import annotations

import stat
from pathlib import Path

from chat_api.settings import ApiSettings


def test_defaults(tmp_path: Path) -> None:
    settings = ApiSettings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.cors_origins == ("http://localhost:3000",)
    assert settings.models == ("gemma3-270m",)
    assert settings.default_model == "gemma3-270m"
    assert settings.request_timeout_s == 120.0
    assert settings.worker_stale_after_s == 3.0


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
            "JWT_SECRET": "abc",
            "MODELS": "a, b ,,c",
            "DEFAULT_MODEL": "b",
            "CORS_ORIGINS": "http://x, http://y",
            "GATEWAY_PORT": "9000",
        }
    )
    assert settings.jwt_secret == "abc"
    assert not (tmp_path / "jwt_secret").exists()
    assert settings.models == ("a", "b", "c")
    assert settings.default_model == "b"
    assert settings.cors_origins == ("http://x", "http://y")
    assert settings.port == 9000


def test_default_model_always_whitelisted(tmp_path: Path) -> None:
    settings = ApiSettings.from_env(
        {"DATA_DIR": str(tmp_path), "JWT_SECRET": "k", "MODELS": "a", "DEFAULT_MODEL": "z"}
    )
    assert settings.models == ("z", "a")
