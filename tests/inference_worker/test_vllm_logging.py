"""vLLM's own log lines come out in the worker's format, masked: checked in a fresh
interpreter the way vLLM sets up logging in each of its processes (``LoggingConfig``
read from the environment, then ``configure_logging``)."""

from __future__ import annotations

import json
import logging
import logging.config
import subprocess
import sys
from pathlib import Path

import pytest

from structured_logs import dict_config

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
from inference_worker.vllm_logging import route_vllm_logs
path = route_vllm_logs("INFO", "json")
from vllm.config.logging import LoggingConfig
from vllm.logger import configure_logging, init_logger
configure_logging(LoggingConfig())
init_logger("vllm.worker_test").info("key sk-llmchat-abcdefghijklmnop for admin@example.com")
init_logger("vllm.worker_test").debug("not at INFO")
print(path)
"""


def test_vllm_lines_are_masked_json_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line["logger"] == "vllm.worker_test"]
    assert [(line["level"], line["message"]) for line in ours] == [
        ("INFO", "key [api-key] for [email]")
    ]
    assert not Path(done.stdout.strip()).exists()  # the config file is removed at exit


def test_dict_config_text_format_and_level(capsys: pytest.CaptureFixture[str]) -> None:
    name = "tests.library_logger"
    logging.config.dictConfig(dict_config("warning", "text", [name]))
    try:
        library = logging.getLogger(name)
        library.info("dropped")
        library.warning("password=hunter2")
        err = capsys.readouterr().err
        assert "dropped" not in err
        assert "WARNING tests.library_logger password=[secret]" in err
        assert not library.propagate
    finally:
        logging.getLogger(name).handlers.clear()
