"""``python -m inference_worker``: run one inference worker until SIGTERM / SIGINT.

The ``__main__`` guard matters: vLLM starts its engine core with multiprocessing
spawn, which re-imports this module in the child.
"""

from __future__ import annotations

import sys

from inference_worker.app import run
from inference_worker.settings import WorkerSettings, load_settings
from inference_worker.vllm_logging import route_vllm_logs
from llmchat_bus.entrypoint import run_service


def _route_vllm_logs(settings: WorkerSettings) -> None:
    route_vllm_logs(settings.log_level, settings.log_format)  # before vLLM is imported


if __name__ == "__main__":
    sys.exit(run_service("inference-worker", load_settings, run, before_run=_route_vllm_logs))
