"""vLLM's own log lines in the worker's format, masked like every other line.

vLLM configures its ``vllm`` logger itself, in this process and again in each engine
process it spawns, from ``VLLM_LOGGING_CONFIG_PATH`` when set (else a text handler of
its own that bypasses ``structured_logs``). ``route_vllm_logs`` writes a config that
gives that logger the worker's JSON (or text) format and masking filter, and points the
variable at it before vLLM is imported; the spawned processes inherit the variable.
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile
from contextlib import suppress
from pathlib import Path

from structured_logs import LogFormat, dict_config

VLLM_LOGGERS = ("vllm",)


def route_vllm_logs(level: str, fmt: LogFormat) -> Path:
    """Write the config (removed at exit) and set ``VLLM_LOGGING_CONFIG_PATH``."""
    handle, name = tempfile.mkstemp(prefix="llmchat-vllm-logging-", suffix=".json")
    path = Path(name)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(dict_config(level, fmt, VLLM_LOGGERS), file)
    os.environ["VLLM_LOGGING_CONFIG_PATH"] = str(path)
    os.environ["VLLM_CONFIGURE_LOGGING"] = "1"  # the file is only read when this is on
    atexit.register(_remove, path)
    return path


def _remove(path: Path) -> None:
    with suppress(OSError):
        path.unlink()
