"""``ApiSettings``: every knob of the edge API, read once from the environment.

This is the only module that reads ``os.environ``; everything else receives the settings
object (``create_app(settings)``). A bad value raises ``SettingsError`` naming the
variable (``python -m chat_api`` prints it and exits with status 2).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from chat_api.limits.policy import Limits, QueueBounds, RateLimitPolicy
from env_settings import SettingsError, env_bool, env_float, env_int, env_otel_traces
from structured_logs import log_settings_from_env

DEFAULT_MODEL = "gemma3-270m"


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """``true/1/yes/on`` -> True, ``false/0/no/off`` -> False, unset -> ``default``; set but
    blank -> False here (unlike ``env_bool``), as the api always read it: ``ALLOW_REGISTRATION=``
    keeps registration closed."""
    raw = env.get(name)
    if raw is not None and not raw.strip():
        return False
    return env_bool(env, name, default)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    """Any number (no bounds: the api never had any); unset or blank -> ``default``."""
    return env_float(env, name, default, minimum=None)


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    """Any integer (no bounds); unset or blank -> ``default``."""
    return env_int(env, name, default, minimum=None)


MIN_JWT_SECRET_BYTES = 32
"""A shorter HS256 key can be guessed offline from any token it signed."""


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
    max_body_bytes: int = 1_048_576
    """Largest request body (413 past it): a chat at MAX_INPUT_CHARS is far below."""
    max_header_bytes: int = 16_384
    """Largest sum of a request's header names and values (431 past it)."""
    max_tokens_limit: int = 4096
    worker_stale_after_s: float = 3.0
    """A worker silent for longer (or 3 of its own intervals, if larger) is gone."""
    worker_sweep_interval_s: float = 0.25
    shutdown_grace_s: float = 5.0
    log_level: str = "INFO"
    access_token_ttl_s: float = 900.0
    refresh_token_ttl_s: float = 30 * 24 * 3600.0
    allow_registration: bool = True
    auth_cache_ttl_s: float = 60.0
    """How long a looked-up user / API key / user settings is trusted before asking again."""
    admin_can_read_conversations: bool = False
    persistence_timeout_s: float = 2.0
    """How long to wait for a persistence reply before answering 503."""
    auto_title: bool = True
    """Name an untitled conversation after its first exchange (one short inference)."""
    title_timeout_s: float = 30.0
    # --- usage (issue 4: metering client, /api/usage) ---
    metering_timeout_s: float = 10.0
    """How long to wait for a metering reply (a summary or one CSV page) before 503."""
    usage_page_size: int = 1000
    """Records per metering request while streaming a CSV (1..1000)."""
    usage_max_range_days: int = 366
    """The longest ``from``..``to`` range a usage query may span."""
    # --- observability (issue 4: metrics, tracing) ---
    metrics_enabled: bool = True
    """Prometheus metrics at ``GET /metrics`` (``API_METRICS_ENABLED``)."""
    expose_timeline: bool = False
    """``API_EXPOSE_TIMELINE``: the end of every stream tells the client its first token's
    stages in milliseconds (``timeline`` in the ``done`` event and in the last /v1 chunk;
    for benchmarks and debugging: it shows the platform's inner timings to any caller)."""
    otel_traces_exporter: str = "none"
    """``OTEL_TRACES_EXPORTER``: ``none`` (no tracing at all), ``otlp`` or ``console``."""
    otel_exporter_otlp_protocol: str = "http/protobuf"
    """``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``."""
    otel_service_name: str = "llmchat-api"
    # --- admission and logs (issue 4: rate limits, queue bound, banned words, logs) ---
    rate_limits: RateLimitPolicy = field(default_factory=RateLimitPolicy)
    """``LIMIT_{USER,ADMIN}[_KEY]_{RPM,TPM,CONCURRENT}`` (0 = unlimited)."""
    rate_limit_store: Literal["memory", "redis"] = "memory"
    """``memory``: this process only (embedded default); ``redis``: shared by instances."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: float = 0.5
    """Longest wait on Redis per chat admission before the store counts as down."""
    rate_limit_key_prefix: str = "llmchat:limits"
    rate_limit_fail_open: bool = True
    """Store unreachable: admit chats unlimited (True) or answer 503 (False)."""
    auth_attempts_per_address: int = 60
    """Sign-in (and, apart, registration) attempts from one client address in any 60 s
    (many people may share one address)."""
    auth_attempts_per_account: int = 10
    """Sign-in attempts on one account in any 60 s, from anywhere."""
    limit_default_output_tokens: int = 256
    """Tokens a chat without ``max_tokens`` reserves (= the workers' default)."""
    max_queue_depth: QueueBounds = field(default_factory=QueueBounds)
    """Requests waiting for a model's workers beyond which chats get 503 (0 = no bound)."""
    queue_poll_interval_s: float = 0.5
    queue_retry_after_s: int = 5
    max_loop_lag_ms: float = 0.0
    """``API_MAX_LOOP_LAG_MS``: new chats get 503 ``overloaded`` while the event loop runs
    this far behind on average (0: never); ``limits.load``. Off by default: where the api
    shares its cores with an engine (the embedded setup) the engine's load makes the api's
    loop lag although the api is not at its capacity; 50 suits an api on cores of its own."""
    overload_retry_after_s: int = 2
    banned_words: tuple[str, ...] = ()
    log_format: Literal["json", "text"] = "json"
    log_sample_messages: float = 0.0
    """Share (0..1) of chats whose last user message is logged (masked)."""
    # --- model administration (issue 5: model-admin client, routing by alias) ---
    model_admin_routing: Literal["auto", "off"] = "auto"
    """``auto``: a chat's model is resolved by model-admin (profile id or alias -> worker
    group), falling back to the ``MODELS`` whitelist when model-admin does not answer or
    does not know the name; ``off``: the ``MODELS`` whitelist only (no model-admin calls
    on the chat path)."""
    model_admin_timeout_s: float = 2.0
    """How long to wait for a model-admin reply before answering 503 (or falling back)."""
    model_resolve_ttl_s: float = 30.0
    """How long a resolved name is kept at most. Changes announced by model-admin drop it
    at once; this bounds a missed announcement."""
    # --- web app and resumable chats ---
    web_dir: Path | None = None
    """The built web app (``frontend/dist``) served at ``/``; None: no web app routes."""
    chat_detach_grace_s: float = 60.0
    """``POST /api/chat``: a client that goes away detaches its generation for this long
    (it may re-attach with ``GET /api/chat/{id}/events``); 0 cancels at once."""

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
        if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise SettingsError(
                f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (HS256 keys as "
                f"long as its hash); this one has {len(secret.encode())}"
            )
        traces_exporter, otlp_protocol = env_otel_traces(env)
        return cls(
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:4222"),
            nats_connect_timeout_s=_number(env, "NATS_CONNECT_TIMEOUT_S", 30.0),
            host=env.get("GATEWAY_HOST", "127.0.0.1"),
            port=env_int(env, "GATEWAY_PORT", 8080, minimum=0, maximum=65535),
            cors_origins=_csv(env.get("CORS_ORIGINS", "http://localhost:3000")),
            jwt_secret=secret,
            jwt_issuer=env.get("JWT_ISSUER") or None,
            data_dir=data_dir,
            default_model=default_model,
            models=_csv(env.get("MODELS", default_model)),
            request_timeout_s=_number(env, "REQUEST_TIMEOUT_S", 120.0),
            max_input_chars=_integer(env, "MAX_INPUT_CHARS", 32000),
            max_body_bytes=env_int(env, "MAX_BODY_BYTES", 1_048_576, minimum=1024),
            max_header_bytes=env_int(env, "MAX_HEADER_BYTES", 16_384, minimum=1024),
            max_messages=_integer(env, "MAX_MESSAGES", 256),
            max_tokens_limit=_integer(env, "MAX_TOKENS_LIMIT", 4096),
            worker_stale_after_s=_number(env, "WORKER_STALE_AFTER_S", 3.0),
            shutdown_grace_s=_number(env, "SHUTDOWN_GRACE_S", 5.0),
            log_level=log_settings_from_env(env)[0],
            access_token_ttl_s=_number(env, "ACCESS_TOKEN_TTL_S", 900.0),
            refresh_token_ttl_s=_number(env, "REFRESH_TOKEN_TTL_S", 30 * 24 * 3600.0),
            allow_registration=_flag(env, "ALLOW_REGISTRATION", True),
            auth_cache_ttl_s=_number(env, "AUTH_CACHE_TTL_S", 60.0),
            admin_can_read_conversations=_flag(env, "ADMIN_CAN_READ_CONVERSATIONS", False),
            persistence_timeout_s=_number(env, "PERSISTENCE_TIMEOUT_S", 2.0),
            auto_title=_flag(env, "AUTO_TITLE", True),
            title_timeout_s=_number(env, "TITLE_TIMEOUT_S", 30.0),
            metering_timeout_s=_number(env, "METERING_TIMEOUT_S", 10.0),
            usage_page_size=min(max(_integer(env, "USAGE_CSV_PAGE_SIZE", 1000), 1), 1000),
            usage_max_range_days=max(_integer(env, "USAGE_MAX_RANGE_DAYS", 366), 1),
            metrics_enabled=_flag(env, "API_METRICS_ENABLED", True),
            expose_timeline=_flag(env, "API_EXPOSE_TIMELINE", False),
            otel_traces_exporter=traces_exporter,
            otel_exporter_otlp_protocol=otlp_protocol,
            otel_service_name=env.get("OTEL_SERVICE_NAME") or "llmchat-api",
            web_dir=_web_dir(env),
            chat_detach_grace_s=env_float(env, "CHAT_DETACH_GRACE_S", 60.0, strict_min=False),
            **_admission_and_logs(env),
        )


REPO_WEB_DIR = Path(__file__).resolve().parents[3] / "frontend" / "dist"


def _web_dir(env: Mapping[str, str]) -> Path | None:
    """``WEB_DIR`` (blank: no web app), else the repository's ``frontend/dist`` if built."""
    raw = env.get("WEB_DIR")
    if raw is not None:
        if not raw.strip():
            return None
        path = Path(raw)
        if not (path / "index.html").is_file():
            raise SettingsError(f"WEB_DIR={raw!r}: no index.html there (build the web app)")
        return path.resolve()
    return REPO_WEB_DIR if (REPO_WEB_DIR / "index.html").is_file() else None


def _limits(env: Mapping[str, str], prefix: str, default: Limits) -> Limits:
    return Limits(
        rpm=env_int(env, f"{prefix}_RPM", default.rpm, minimum=0),
        tpm=env_int(env, f"{prefix}_TPM", default.tpm, minimum=0),
        concurrent=env_int(env, f"{prefix}_CONCURRENT", default.concurrent, minimum=0),
    )


def _admission_and_logs(env: Mapping[str, str]) -> dict[str, Any]:
    """The rate limit, queue bound, banned word and log settings (issue 4)."""
    policy = RateLimitPolicy()
    store = env.get("RATE_LIMIT_STORE", "memory").strip().lower() or "memory"
    if store not in ("memory", "redis"):
        raise SettingsError(f"RATE_LIMIT_STORE={store!r}: expected memory or redis")
    _, log_format = log_settings_from_env(env)
    sample = env_float(env, "LOG_SAMPLE_MESSAGES", 0.0, strict_min=False, maximum=1.0)
    return {
        "rate_limits": RateLimitPolicy(
            user=_limits(env, "LIMIT_USER", policy.user),
            admin=_limits(env, "LIMIT_ADMIN", policy.admin),
            user_key=_limits(env, "LIMIT_USER_KEY", policy.user_key),
            admin_key=_limits(env, "LIMIT_ADMIN_KEY", policy.admin_key),
        ),
        "rate_limit_store": store,
        "redis_url": env.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        "redis_timeout_s": _number(env, "REDIS_TIMEOUT_S", 0.5),
        "rate_limit_key_prefix": env.get("RATE_LIMIT_KEY_PREFIX") or "llmchat:limits",
        "rate_limit_fail_open": _flag(env, "RATE_LIMIT_FAIL_OPEN", True),
        "auth_attempts_per_address": env_int(env, "AUTH_ATTEMPTS_PER_ADDRESS", 60, minimum=0),
        "auth_attempts_per_account": env_int(env, "AUTH_ATTEMPTS_PER_ACCOUNT", 10, minimum=0),
        "limit_default_output_tokens": env_int(env, "LIMIT_DEFAULT_OUTPUT_TOKENS", 256, minimum=0),
        "max_queue_depth": QueueBounds.parse(env.get("MAX_QUEUE_DEPTH", "")),
        "queue_poll_interval_s": _number(env, "QUEUE_POLL_INTERVAL_S", 0.5),
        "queue_retry_after_s": max(1, _integer(env, "QUEUE_RETRY_AFTER_S", 5)),
        "max_loop_lag_ms": max(0.0, _number(env, "API_MAX_LOOP_LAG_MS", 0.0)),
        "overload_retry_after_s": max(1, _integer(env, "OVERLOAD_RETRY_AFTER_S", 2)),
        "banned_words": _csv(env.get("BANNED_WORDS", "")),
        "log_format": log_format,
        "log_sample_messages": sample,
        **_model_admin(env),
    }


def _model_admin(env: Mapping[str, str]) -> dict[str, Any]:
    """The model-admin client and chat routing settings (issue 5)."""
    routing = (env.get("MODEL_ADMIN_ROUTING") or "auto").strip().lower()
    if routing not in ("auto", "off"):
        raise SettingsError(f"MODEL_ADMIN_ROUTING={routing!r}: expected auto or off")
    timeout_s = env_float(env, "MODEL_ADMIN_TIMEOUT_S", 2.0)
    ttl_s = env_float(env, "MODEL_RESOLVE_TTL_S", 30.0, strict_min=False)
    return {
        "model_admin_routing": routing,
        "model_admin_timeout_s": timeout_s,
        "model_resolve_ttl_s": ttl_s,
    }
