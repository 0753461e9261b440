"""``python -m model_admin``: run the model-admin service until SIGTERM / SIGINT."""

from __future__ import annotations

import sys

from llmchat_bus.entrypoint import run_service
from model_admin.app import run
from model_admin.settings import load_settings

if __name__ == "__main__":
    sys.exit(run_service("model-admin", load_settings, run))
