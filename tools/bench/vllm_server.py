"""`python -m bench.vllm_server` (make bench-vllm-server): the platform against vLLM's own
OpenAI server, the program a user would run instead of it.

Both serve the same model folder with the worker's engine settings (``WORKER_*``), and
vLLM's server gets a chat template that renders exactly what the worker's built-in one
does (checked on every prompt before the run) and the same stop token. The same
OpenAI-style streaming client (``bench.openai_path``) sends the same prompts, greedy, to
``/v1/chat/completions`` of each. Only one engine runs at a time (two would share the
cores); rounds alternate which goes first, and the samples of all rounds are pooled.
The platform runs with ``API_EXPOSE_TIMELINE``: its first token by stage is printed too.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jinja2
import msgspec

from bench.config import BenchConfig, dev_token, load_config, platform_stack_settings, say
from bench.openai_path import run_level
from bench.stats import LevelRun, pooled, table
from bench.workload import Message, long_context_chat, short_chat
from contracts.inference import ChatMessage
from inference_worker.prompt import render_gemma
from inference_worker.settings import WorkerSettings
from inference_worker.settings import load_settings as load_worker_settings
from local_stack.launcher import Stack
from local_stack.ports import free_port

SERVER = "vllm-server"
STOP_TOKEN = "<end_of_turn>"

# The worker's built-in "gemma" template (inference_worker.prompt.render_gemma) in Jinja:
# a system prompt folded into the first user turn, every content stripped.
GEMMA_TEMPLATE = (
    "<bos>{%- set ns = namespace(system='') -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}"
    "{%- set ns.system = ns.system ~ (m['content'] | trim) ~ '\n\n' -%}"
    "{%- else -%}"
    "{%- set content = m['content'] | trim -%}"
    "{%- if m['role'] == 'user' and ns.system -%}"
    "{%- set content = ns.system ~ content -%}{%- set ns.system = '' -%}"
    "{%- endif -%}"
    "{{ '<start_of_turn>' ~ ('model' if m['role'] == 'assistant' else 'user') ~ '\n' "
    "~ content ~ '<end_of_turn>\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if ns.system -%}"
    "{{ '<start_of_turn>user\n' ~ (ns.system | trim) ~ '<end_of_turn>\n' }}"
    "{%- endif -%}"
    "{{ '<start_of_turn>model\n' }}"
)


def render_template(messages: list[Message]) -> str:
    environment = jinja2.Environment(autoescape=False)
    return environment.from_string(GEMMA_TEMPLATE).render(
        messages=[{"role": m.role, "content": m.content} for m in messages]
    )


def check_template(chats: list[list[Message]]) -> None:
    """vLLM's server must see the prompts the worker builds, or the comparison is void."""
    for chat in chats:
        worker = render_gemma([ChatMessage(role=m.role, content=m.content) for m in chat])  # type: ignore[arg-type]
        if render_template(chat) != worker:
            raise SystemExit(f"the Jinja template renders {chat!r} unlike the worker")


class VllmServer:
    """``python -m vllm.entrypoints.openai.api_server`` (``vllm serve`` looks the package up
    as "vllm", which the CPU build is not called) with the worker's engine settings."""

    def __init__(self, settings: WorkerSettings, work_dir: Path) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._template = work_dir / "gemma-template.jinja"
        self._log = work_dir / "vllm-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 600.0) -> None:
        s = self.settings
        self._template.parent.mkdir(parents=True, exist_ok=True)
        self._template.write_text(GEMMA_TEMPLATE)
        command = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--model={s.model_path}",
            f"--served-model-name={s.model}",
            f"--dtype={s.dtype}",
            f"--max-model-len={s.max_model_len}",
            f"--gpu-memory-utilization={s.gpu_memory_utilization}",
            f"--max-num-seqs={s.max_num_seqs}",
            f"--tensor-parallel-size={s.tensor_parallel_size}",
            f"--chat-template={self._template}",
            # The worker builds its sampling parameters itself: no defaults from the
            # model's generation_config.json here either.
            "--generation-config=vllm",
            "--disable-log-stats",
            *(["--enforce-eager"] if s.enforce_eager else []),
        ]
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SystemExit(
                    f"vLLM's server exited ({self._process.returncode}); see {self._log}"
                )
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        self.stop()
        raise SystemExit(f"vLLM's server not ready after {timeout_s:.0f} s; see {self._log}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)  # it stops on SIGTERM, not promptly on SIGINT
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def stop_token_id(settings: WorkerSettings) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(settings.model_path))
    token_id = tokenizer.convert_tokens_to_ids(STOP_TOKEN)
    if not isinstance(token_id, int) or token_id < 0:
        raise SystemExit(f"the model has no {STOP_TOKEN} token")
    return token_id


Level = tuple[str, list[list[Message]], int]
"""(case, chats, concurrency)"""


def levels(config: BenchConfig) -> list[Level]:
    chat = [("chat", [short_chat(i) for i in range(max(8, 4 * c))], c) for c in config.levels]
    return [*chat, ("ctx2k", [long_context_chat(200 + i) for i in range(4)], 1)]


async def run_path(
    path: str,
    base_url: str,
    headers: dict[str, str],
    model: str,
    config: BenchConfig,
    extra_body: dict[str, Any],
) -> list[LevelRun]:
    await run_level(base_url, headers, model, [short_chat(99)], 1, config.max_tokens, extra_body)
    runs: list[LevelRun] = []
    for case, chats, concurrency in levels(config):
        samples, wall = await run_level(
            base_url, headers, model, chats, concurrency, config.max_tokens, extra_body
        )
        run = LevelRun(path=path, case=case, concurrency=concurrency, samples=samples, wall_s=wall)
        result = run.summary()
        say(
            f"{path:11} {case:5} c={concurrency:<2} ttft p50 {result.ttft_p50_ms} ms, "
            f"{result.tokens_per_s} tok/s, errors {result.error_rate:.1%}"
        )
        runs.append(run)
    return runs


def run_server_phase(config: BenchConfig, settings: WorkerSettings, stop_id: int) -> list[LevelRun]:
    server = VllmServer(settings, config.data_dir / "bench-vllm-server")
    say("vllm-server: starting vLLM's OpenAI server")
    server.start()
    try:
        # The worker passes its template's stop token to the engine; so does this client.
        extra = {"stop_token_ids": [stop_id]}
        return asyncio.run(run_path(SERVER, server.url, {}, settings.model, config, extra))
    finally:
        server.stop()


def run_platform_phase(
    config: BenchConfig, settings: WorkerSettings, round_no: int
) -> list[LevelRun]:
    stack_dir = config.data_dir / f"bench-vllm-server-stack-{round_no}"
    stack_settings = platform_stack_settings(stack_dir)
    say("platform: starting the stack")
    with Stack(stack_settings) as stack:
        stack.wait_ready(say)
        headers = {"Authorization": f"Bearer {dev_token(stack_dir)}"}
        return asyncio.run(
            run_path("platform", stack_settings.api_url, headers, settings.model, config, {})
        )


def main() -> int:
    config = load_config()
    settings = load_worker_settings()
    check_template([chat for _, chats, _ in levels(config) for chat in chats])
    stop_id = stop_token_id(settings)
    runs: list[LevelRun] = []
    for round_no in range(1, config.rounds + 1):
        server_first = round_no % 2 == 1
        say(f"round {round_no} of {config.rounds}: {SERVER if server_first else 'platform'} first")
        order = (SERVER, "platform") if server_first else ("platform", SERVER)
        for path in order:
            if path == SERVER:
                runs += run_server_phase(config, settings, stop_id)
            else:
                runs += run_platform_phase(config, settings, round_no)
    results = pooled(runs)
    print(f"platform /v1 against vLLM's own OpenAI server, {config.rounds} rounds pooled")
    print(table(results, baseline=SERVER))
    print("platform first token by stage, p50/p95 ms (pooled)")
    for result in results:
        if result.path == "platform":
            stages = ", ".join(
                f"{stage} {q['p50']}/{q['p95']}" for stage, q in result.first_token_stages.items()
            )
            print(f"{result.case:6} {result.concurrency:>4} | {stages or '-'}")
    out = Path(os.environ.get("BENCH_OUT") or config.data_dir / "bench-vllm-server.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(msgspec.json.format(msgspec.json.encode({"results": results})))
    say(f"wrote {out}")
    return 1 if any(r.error_rate > 0 for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
