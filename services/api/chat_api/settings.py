"""``ApiSettings``: every knob of the edge API, read once from the environment.

This is the only module that reads ``os.environ``; everything else receives the settings
object (``create_app(settings)``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "gemma3-270m"


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(value: str) -> bool:
    """``true/1/yes/on`` -> True, ``false/0/no/off/""`` -> False; anything else is an error."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def load_or_create_secret(data_dir: Path) -> str:
    """The JWT secret stored in ``data_dir/jwt_secret`` (0600), created on first use."""
    path = data_dir / "jwt_secret"
    if path.exists():
        secret = path.read_text().strip()
        if secret:
            return secret
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    os.chmod(path, 0o600)
    return secret


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    nats_url: str = "nats://127.0.0.1:4222"
    nats_connect_timeout_s: float = 30.0
    host: str = "127.0.0.1"
    port: int = 8080
    cors_origins: tuple[str, ...] = ("http://localhost:3000",)
    jwt_secret: str = field(repr=False)
    jwt_issuer: str | None = None
    data_dir: Path = Path(".data")
    default_model: str = DEFAULT_MODEL
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    request_timeout_s: float = 120.0
    """Default per-request deadline, and the largest ``timeout_s`` a client may ask for."""
    max_input_chars: int = 32_000
    max_messages: int = 256
    max_tokens_limit: int = 4096
    worker_stale_after_s: float = 3.0
    """A worker silent for longer (or 3 of its own intervals, if larger) is gone."""
    worker_sweep_interval_s: float = 0.25
    shutdown_grace_s: float = 5.0
    log_level: str = "INFO"
    access_token_ttl_s: float = 900.0
    refresh_token_ttl_s: float = 30 * 24 * 3600.0
    allow_registration: bool = True
    auth_cache_ttl_s: float = 2.0
    """How long a looked-up user / API key / user settings is trusted before asking again."""
    admin_can_read_conversations: bool = False
    persistence_timeout_s: float = 2.0
    """How long to wait for a persistence reply before answering 503."""
    auto_title: bool = True
    """Name an untitled conversation after its first exchange (one short inference)."""
    title_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.models:
            object.__setattr__(self, "models", (self.default_model,))
        if self.default_model not in self.models:
            object.__setattr__(self, "models", (self.default_model, *self.models))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("DATA_DIR", ".data"))
        default_model = env.get("DEFAULT_MODEL", DEFAULT_MODEL)
        secret = env.get("JWT_SECRET") or load_or_create_secret(data_dir)
        return cls(
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:4222"),
            nats_connect_timeout_s=float(env.get("NATS_CONNECT_TIMEOUT_S", "30")),
            host=env.get("GATEWAY_HOST", "127.0.0.1"),
            port=int(env.get("GATEWAY_PORT", "8080")),
            cors_origins=_csv(env.get("CORS_ORIGINS", "http://localhost:3000")),
            jwt_secret=secret,
            jwt_issuer=env.get("JWT_ISSUER") or None,
            data_dir=data_dir,
            default_model=default_model,
            models=_csv(env.get("MODELS", default_model)),
            request_timeout_s=float(env.get("REQUEST_TIMEOUT_S", "120")),
            max_input_chars=int(env.get("MAX_INPUT_CHARS", "32000")),
            max_messages=int(env.get("MAX_MESSAGES", "256")),
            max_tokens_limit=int(env.get("MAX_TOKENS_LIMIT", "4096")),
            worker_stale_after_s=float(env.get("WORKER_STALE_AFTER_S", "3.0")),
            shutdown_grace_s=float(env.get("SHUTDOWN_GRACE_S", "5")),
            log_level=env.get("LOG_LEVEL", "INFO"),
            access_token_ttl_s=float(env.get("ACCESS_TOKEN_TTL_S", "900")),
            refresh_token_ttl_s=float(env.get("REFRESH_TOKEN_TTL_S", str(30 * 24 * 3600))),
            allow_registration=_flag(env.get("ALLOW_REGISTRATION", "true")),
            auth_cache_ttl_s=float(env.get("AUTH_CACHE_TTL_S", "2")),
            admin_can_read_conversations=_flag(env.get("ADMIN_CAN_READ_CONVERSATIONS", "false")),
            persistence_timeout_s=float(env.get("PERSISTENCE_TIMEOUT_S", "2")),
            auto_title=_flag(env.get("AUTO_TITLE", "true")),
            title_timeout_s=float(env.get("TITLE_TIMEOUT_S", "30")),
        )
