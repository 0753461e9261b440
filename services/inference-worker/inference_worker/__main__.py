"""``python -m inference_worker``: run one inference worker until SIGTERM / SIGINT.

The ``__main__`` guard matters: vLLM starts its engine core with multiprocessing
spawn, which re-imports this module in the child.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from inference_worker.app import run
from inference_worker.settings import SettingsError, load_settings
from inference_worker.vllm_logging import route_vllm_logs
from structured_logs import configure_logging


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"inference-worker: bad setting: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    route_vllm_logs(settings.log_level, settings.log_format)  # before vLLM is imported
    logging.getLogger("nats").setLevel(logging.WARNING)
    return asyncio.run(run(settings, install_signal_handlers=True))


if __name__ == "__main__":
    sys.exit(main())
