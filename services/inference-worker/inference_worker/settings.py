"""``WorkerSettings``: the one typed configuration of the worker, built once from env.

Every ``WORKER_*`` variable is read here and nowhere else. A bad value raises
``SettingsError`` naming the variable, at start-up.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from contracts.admin import ProfileSpec
from env_settings import SettingsError as SettingsError  # re-exported
from env_settings import env_bool, env_float, env_int, env_nats_url, env_otel_traces, env_str
from inference_worker.prompt import FALLBACK_TEMPLATES
from structured_logs import log_settings_from_env

EngineKind = Literal["vllm", "scripted"]
DeviceSetting = Literal["auto", "cpu", "cuda"]
_DEVICES: tuple[DeviceSetting, ...] = ("auto", "cpu", "cuda")
Dtype = Literal["auto", "half", "float16", "bfloat16", "float", "float32"]
_DTYPES: tuple[Dtype, ...] = ("auto", "half", "float16", "bfloat16", "float", "float32")
_ENGINES: tuple[EngineKind, ...] = ("vllm", "scripted")
DEFAULT_MODEL = "gemma3-270m"
DEFAULT_MODEL_DIR = "gemma3-270m-hf"
DEFAULT_PROFILE = "gemma3-270m"
DEFAULT_HF_MODEL = "google/gemma-3-270m"
"""The Hugging Face model of the prepared folder ``MODEL_CACHE_DIR/gemma3-270m-hf``: every
profile of that model (gemma3-270m, gemma3-270m-long) loads from it unless mapped."""


class WorkerSettings(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: str = "nats://127.0.0.1:4222"
    worker_id: str
    model: str = DEFAULT_MODEL
    engine: EngineKind = "vllm"
    model_path: Path
    profile_id: str = DEFAULT_PROFILE
    """``WORKER_PROFILE``: the model-admin profile the engine settings below amount to
    (reported in heartbeats; a swap replaces the engine fields with another profile's)."""
    device: DeviceSetting = "auto"
    """``WORKER_DEVICE``: what the worker reports as its hardware (auto: cuda if torch
    sees a GPU and the engine is vllm, else cpu)."""
    model_cache_dir: Path = Path("~/.cache/llmchat/models")
    model_paths: dict[str, Path] = msgspec.field(default_factory=dict)
    """``WORKER_MODEL_PATHS``: local folder per profile id or Hugging Face model."""
    dtype: Dtype = "bfloat16"
    max_model_len: int = 4096
    gpu_memory_utilization: float = 0.3
    max_num_seqs: int = 16
    enforce_eager: bool = True
    tensor_parallel_size: int = 1
    quantization: str | None = None
    """vLLM ``quantization`` (None: the checkpoint's own); set by a profile."""
    kv_cache_dtype: str = "auto"
    chat_template: str = "gemma"
    heartbeat_s: float = 1.0
    drain_timeout_s: float = 30.0
    request_pullers: int = 4
    """Pull loops on the model's consumer: a burst of this many requests is fetched in
    one round trip (each loop reserves a slot while it waits)."""
    default_max_tokens: int = 256
    nats_connect_timeout_s: float = 60.0
    # Stand-in engine (WORKER_ENGINE=scripted): protocol tests, never production.
    scripted_tokens_per_s: float = 200.0
    scripted_start_s: float = 0.0
    scripted_fail_start: bool = False
    scripted_text: str = "The quick brown fox jumps over the lazy dog."
    # Observability (issue 4): Prometheus endpoint, OpenTelemetry tracing.
    metrics_port: int = 0
    """``WORKER_METRICS_PORT``: serve /metrics here (0 = no endpoint, no metrics kept)."""
    metrics_host: str = "127.0.0.1"
    otel_traces_exporter: str = "none"
    """``OTEL_TRACES_EXPORTER``: ``none`` (no tracing at all), ``otlp`` or ``console``."""
    otel_exporter_otlp_protocol: str = "http/protobuf"
    otel_service_name: str = "llmchat-inference-worker"
    # Logs (issue 4): LOG_LEVEL / LOG_FORMAT, the same variables in every service.
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    @property
    def capacity(self) -> int:
        """How many generations this worker runs at once (= the engine's max_num_seqs)."""
        return self.max_num_seqs

    @property
    def engine_stats(self) -> bool:
        """Let vLLM keep its own Prometheus statistics (only when they are served)."""
        return self.metrics_port > 0

    def model_path_for(self, profile: ProfileSpec) -> Path | None:
        """The local folder a profile loads from: ``WORKER_MODEL_PATHS`` by profile id,
        then by Hugging Face model, then the worker's own ``WORKER_MODEL_PATH`` for its
        own profile, then the convention ``MODEL_CACHE_DIR/<profile id>-hf`` if it exists."""
        for key in (profile.id, profile.hf_model):
            if key in self.model_paths:
                return self.model_paths[key]
        if profile.id == self.profile_id:
            return self.model_path
        conventional = self.model_cache_dir / f"{profile.id}-hf"
        return conventional if conventional.is_dir() else None

    def for_profile(self, profile: ProfileSpec) -> WorkerSettings:
        """These settings with the engine fields of ``profile`` (what a swap loads).

        Raises ``SettingsError`` (nothing is unloaded then) when the profile names a
        dtype or template this worker does not know, or no local folder for its model."""
        engine = profile.engine
        if engine.dtype not in _DTYPES:
            raise SettingsError(f"profile {profile.id}: dtype {engine.dtype!r} is not supported")
        template = profile.chat_template or self.chat_template
        if template not in FALLBACK_TEMPLATES:
            raise SettingsError(f"profile {profile.id}: no built-in chat template {template!r}")
        path = self.model_path_for(profile)
        if self.engine == "vllm":
            if path is None:
                raise SettingsError(
                    f"profile {profile.id}: no local folder for {profile.hf_model} "
                    f"(set WORKER_MODEL_PATHS={profile.id}=/path/to/folder)"
                )
            if not path.is_dir():
                raise SettingsError(f"profile {profile.id}: model folder {path} not found")
        return msgspec.structs.replace(
            self,
            profile_id=profile.id,
            model_path=path or self.model_path,
            dtype=engine.dtype,  # type: ignore[arg-type]  # checked against _DTYPES above
            max_model_len=engine.max_model_len,
            gpu_memory_utilization=engine.gpu_memory_utilization,
            max_num_seqs=engine.max_num_seqs,
            enforce_eager=engine.enforce_eager,
            tensor_parallel_size=engine.tensor_parallel_size,
            quantization=None if engine.quantization == "none" else engine.quantization,
            kv_cache_dtype=engine.kv_cache_dtype,
            chat_template=template,
            default_max_tokens=profile.sampling.max_tokens,
        )


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _model_cache_dir(env: Mapping[str, str]) -> Path:
    cache = env.get("MODEL_CACHE_DIR") or str(Path.home() / ".cache" / "llmchat" / "models")
    return Path(cache).expanduser()


def _default_model_path(env: Mapping[str, str]) -> Path:
    return _model_cache_dir(env) / DEFAULT_MODEL_DIR


def _model_paths(env: Mapping[str, str]) -> dict[str, Path]:
    """``WORKER_MODEL_PATHS=profile-or-hf-model=/path,...`` over the built-in
    ``google/gemma-3-270m -> MODEL_CACHE_DIR/gemma3-270m-hf``."""
    paths = {DEFAULT_HF_MODEL: _default_model_path(env)}
    raw = env.get("WORKER_MODEL_PATHS", "")
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SettingsError(
                f"WORKER_MODEL_PATHS={raw!r}: expected profile=/path[,profile=/path...]"
            )
        paths[key.strip()] = Path(value.strip()).expanduser()
    return paths


def load_settings(env: Mapping[str, str] | None = None) -> WorkerSettings:
    """Build the settings from ``env`` (default ``os.environ``); raise ``SettingsError``."""
    env = os.environ if env is None else env
    log_level, log_format = log_settings_from_env(env)
    engine = env_str(env, "WORKER_ENGINE", "vllm")
    if engine not in _ENGINES:
        raise SettingsError(f"WORKER_ENGINE={engine!r}: expected one of {', '.join(_ENGINES)}")
    model_path_raw = env.get("WORKER_MODEL_PATH")
    model_path = Path(model_path_raw).expanduser() if model_path_raw else _default_model_path(env)
    nats_url = env_nats_url(env)
    dtype = env_str(env, "WORKER_DTYPE", "bfloat16")
    if dtype not in _DTYPES:
        raise SettingsError(f"WORKER_DTYPE={dtype!r}: expected one of {', '.join(_DTYPES)}")
    chat_template = env_str(env, "WORKER_CHAT_TEMPLATE", "gemma")
    device = env_str(env, "WORKER_DEVICE", "auto").lower()
    if device not in _DEVICES:
        raise SettingsError(f"WORKER_DEVICE={device!r}: expected one of {', '.join(_DEVICES)}")
    traces_exporter, otlp_protocol = env_otel_traces(env)
    if chat_template not in FALLBACK_TEMPLATES:
        raise SettingsError(
            f"WORKER_CHAT_TEMPLATE={chat_template!r}: built-in templates are "
            f"{', '.join(FALLBACK_TEMPLATES)}"
        )
    return WorkerSettings(
        nats_url=nats_url,
        worker_id=env_str(env, "WORKER_ID", _default_worker_id()),
        model=env_str(env, "WORKER_MODEL", DEFAULT_MODEL),
        engine=engine,  # type: ignore[arg-type]  # checked against _ENGINES above
        model_path=model_path,
        profile_id=env_str(env, "WORKER_PROFILE", DEFAULT_PROFILE),
        device=device,  # type: ignore[arg-type]  # checked against _DEVICES above
        model_cache_dir=_model_cache_dir(env),
        model_paths=_model_paths(env),
        dtype=dtype,  # type: ignore[arg-type]  # checked against _DTYPES above
        max_model_len=env_int(env, "WORKER_MAX_MODEL_LEN", 4096, minimum=16),
        gpu_memory_utilization=env_float(env, "WORKER_GPU_MEMORY_UTILIZATION", 0.3, maximum=1.0),
        max_num_seqs=env_int(env, "WORKER_MAX_NUM_SEQS", 16),
        enforce_eager=env_bool(env, "WORKER_ENFORCE_EAGER", True),
        tensor_parallel_size=env_int(env, "WORKER_TENSOR_PARALLEL_SIZE", 1),
        chat_template=chat_template,
        heartbeat_s=env_float(env, "WORKER_HEARTBEAT_S", 1.0),
        drain_timeout_s=env_float(env, "WORKER_DRAIN_TIMEOUT_S", 30.0, strict_min=False),
        request_pullers=env_int(env, "WORKER_REQUEST_PULLERS", 4),
        default_max_tokens=env_int(env, "WORKER_DEFAULT_MAX_TOKENS", 256),
        nats_connect_timeout_s=env_float(env, "WORKER_NATS_CONNECT_TIMEOUT_S", 60.0),
        scripted_tokens_per_s=env_float(env, "WORKER_SCRIPTED_TOKENS_PER_S", 200.0),
        scripted_start_s=env_float(env, "WORKER_SCRIPTED_START_S", 0.0, strict_min=False),
        scripted_fail_start=env_bool(env, "WORKER_SCRIPTED_FAIL_START", False),
        scripted_text=env_str(
            env, "WORKER_SCRIPTED_TEXT", "The quick brown fox jumps over the lazy dog."
        ),
        metrics_port=env_int(env, "WORKER_METRICS_PORT", 0, minimum=0),
        metrics_host=env_str(env, "WORKER_METRICS_HOST", "127.0.0.1"),
        otel_traces_exporter=traces_exporter,
        otel_exporter_otlp_protocol=otlp_protocol,
        otel_service_name=env_str(env, "OTEL_SERVICE_NAME", "llmchat-inference-worker"),
        log_level=log_level,
        log_format=log_format,
    )
