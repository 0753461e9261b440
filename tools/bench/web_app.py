"""`python -m bench.web_app` (make bench-web): how the web app behaves in Chromium.

Starts the platform like `make run`, but with the scripted STAND-IN engine streaming
markdown at ``BENCH_WEB_TOKENS_PER_S`` (100) tokens/s, since the point is the page, not
the model: the real CPU engine here streams 20-40 tokens/s. Seeds a conversation of
1,000 stored messages (as real chats store them: lifecycle events consumed by
persistence), then runs frontend/bench/web-perf.mjs in Debian's Chromium, which reports:
first contentful paint with a cold cache, the long tasks while an answer streams under 4x
CPU throttling, and the frame times while the 1,000-message conversation scrolls.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

from bench.conversation_load import publish_exchanges
from contracts.permissions import WORKER
from local_stack.launcher import Stack
from local_stack.ports import free_port
from local_stack.settings import StackSettings

REPO = Path(__file__).resolve().parents[2]
EXCHANGES = 500
MARKDOWN = """## A streamed answer

Here is a list of things to check, with **bold** and `inline code`:

- the first item, which is long enough to wrap on a narrow screen
- the second item
- the third item with a [link](https://example.com)

```python
def fibonacci(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
```

| model | tokens/s | ttft ms |
| --- | ---: | ---: |
| small | 110 | 36 |
| large | 30 | 240 |

Then a closing paragraph that goes on for a while, so that the last block of the
answer grows word by word the way a real answer does.
"""


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


async def account(api_url: str) -> tuple[dict[str, object], str]:
    """A new user's token pair (as the login route gives it) and id."""
    email, password = f"bench-{uuid.uuid4().hex[:8]}@example.com", "bench-password-1"
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        registered = await client.post(
            "/api/auth/register", json={"email": email, "password": password}
        )
        registered.raise_for_status()
        login = await client.post("/api/auth/login", json={"email": email, "password": password})
        login.raise_for_status()
        pair: dict[str, object] = login.json()
        return pair, str(registered.json()["id"])


async def long_conversation(
    api_url: str, nats_url: str, pair: dict[str, object], user_id: str
) -> str:
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as client:
        created = await client.post("/api/conversations", json={"title": "bench: 1,000 messages"})
        created.raise_for_status()
        conversation_id = str(created.json()["id"])
        await publish_exchanges(nats_url, user_id, conversation_id, EXCHANGES)
        for _ in range(600):  # persistence consumes the events
            page = await client.get(f"/api/conversations/{conversation_id}", params={"limit": 1})
            if page.json()["conversation"]["message_count"] >= 2 * EXCHANGES:
                return conversation_id
            await asyncio.sleep(0.1)
    raise TimeoutError("the seeded conversation was not stored in time")


def main() -> int:
    tokens_per_s = os.environ.get("BENCH_WEB_TOKENS_PER_S", "100")
    # BENCH_WEB_DIR: serve another build (say, `vite build --minify false` for a profile).
    web_dir = os.environ.get("BENCH_WEB_DIR")
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        data_dir = Path(tmp)
        settings = StackSettings(
            data_dir=data_dir,
            nats_url=None,
            gateway_port=free_port(),
            log_dir=data_dir / "logs",
            extra_env={
                "WORKER_ENGINE": "scripted",
                "WORKER_SCRIPTED_TOKENS_PER_S": tokens_per_s,
                "WORKER_SCRIPTED_TEXT": MARKDOWN,
                "AUTO_TITLE": "false",
                **({"WEB_DIR": web_dir} if web_dir else {}),
            },
        )
        print(f"CPU: {cpu_model()}; stand-in engine at {tokens_per_s} tokens/s", flush=True)
        with Stack(settings) as stack:
            stack.wait_ready(lambda line: print(line, flush=True))
            pair, user_id = asyncio.run(account(settings.api_url))
            conversation_id = asyncio.run(
                long_conversation(settings.api_url, stack.bus_url(WORKER), pair, user_id)
            )
            env = {
                **os.environ,
                "BASE_URL": settings.api_url,
                "BENCH_TOKEN_PAIR": json.dumps(pair),
                "BENCH_LONG_CONVERSATION": conversation_id,
            }
            result = subprocess.run(
                ["node", "tools/bench/web-perf.mjs"], cwd=REPO / "frontend", env=env, check=False
            )
            return result.returncode


if __name__ == "__main__":
    sys.exit(main())
