"""``python -m persistence``: run the persistence service until SIGTERM / SIGINT."""

from __future__ import annotations

import sys

from llmchat_bus.entrypoint import run_service
from persistence.app import run
from persistence.settings import load_settings

if __name__ == "__main__":
    sys.exit(run_service("persistence", load_settings, run))
