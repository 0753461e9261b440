"""The web app in a real browser: Playwright drives Debian's chromium against the session's
stack (frontend/e2e/*.spec.ts, frontend/playwright.config.ts).

This module sorts before test_chat_e2e.py, whose last test kills the worker. Screenshots of
every main screen, Playwright's failure pictures and measurements.txt (first contentful
paint, the longest long task under 4x CPU throttling, reload tries and mismatches) land in
frontend/test-results/browser (or $E2E_OUTPUT_DIR)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from local_stack.launcher import Stack

pytestmark = [pytest.mark.vllm, pytest.mark.nats, pytest.mark.browser]

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The whole suite takes 4-7 minutes here (the CPU engine is the slow part); a hung browser
# or stream must not hold the session for ever.
SUITE_TIMEOUT_S = 900


def test_browser_suite(live_stack: Stack, admin_account: tuple[str, str]) -> None:
    # A missing browser is a missing install step, not a reason to pass: fail.
    assert Path(CHROMIUM).exists(), f"no chromium at {CHROMIUM} (make test installs Debian's)"
    npx = shutil.which("npx")
    assert npx, "npx not found (make test installs node and npm)"
    assert (FRONTEND / "node_modules" / "@playwright" / "test").is_dir(), (
        "frontend/node_modules lacks @playwright/test: run `make web-deps`"
    )
    assert (FRONTEND / "dist" / "index.html").is_file(), "the web app is not built: `make web`"
    output = Path(os.environ.get("E2E_OUTPUT_DIR") or FRONTEND / "test-results" / "browser")
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    email, password = admin_account
    env = {
        **os.environ,
        "BASE_URL": live_stack.settings.api_url,
        "ADMIN_EMAIL": email,
        "ADMIN_PASSWORD": password,
        "E2E_OUTPUT_DIR": str(output),
        "CHROMIUM_PATH": CHROMIUM,
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        "CI": "1",
        "FORCE_COLOR": "0",
    }
    started = time.monotonic()
    try:
        result = subprocess.run(
            [npx, "--no-install", "playwright", "test"],
            cwd=FRONTEND,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUITE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"the browser suite ran past {SUITE_TIMEOUT_S} s:\n{out}")
    took = time.monotonic() - started
    print(result.stdout)
    if result.stderr.strip():
        print(result.stderr)
    measurements = output / "measurements.txt"
    if measurements.exists():
        print(f"--- {measurements} ---\n{measurements.read_text()}")
    print(f"browser suite: {took:.0f} s; screenshots in {output / 'screenshots'}")
    assert result.returncode == 0, (
        f"playwright exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    screenshots = sorted(p.name for p in (output / "screenshots").glob("*.png"))
    for name in ("chat-ko-light.png", "login-ko-light.png", "admin-models-ko-light.png"):
        assert name in screenshots, screenshots
