"""``python -m <service>`` with a bad setting: exit 2 and one line naming the variable,
before anything starts (no NATS, no database needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("module", "name", "variable"),
    [
        ("persistence", "persistence", "PERSISTENCE_DB_POOL_SIZE"),
        ("metering", "metering", "METERING_DB_POOL_SIZE"),
        ("model_admin", "model-admin", "MODEL_ADMIN_RPC_CONCURRENCY"),
        ("inference_worker", "inference-worker", "WORKER_MAX_NUM_SEQS"),
    ],
)
def test_bad_setting_exits_2_naming_it(
    module: str, name: str, variable: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path), variable: "many"}
    done = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"{name}: bad setting: {variable}='many': expected an integer"
    assert not list(tmp_path.iterdir())  # nothing was started or written
