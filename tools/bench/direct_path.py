"""The same engine, called in this process: the worker's VllmEngine and prompt builder,
no api, no NATS. What remains is vLLM itself."""

from __future__ import annotations

import asyncio
import time
import uuid

from bench.stats import Sample
from bench.workload import Message
from contracts.inference import ChatMessage, SamplingParams
from inference_worker.engine import VllmEngine
from inference_worker.prompt import PromptBuilder
from inference_worker.settings import WorkerSettings


class DirectEngine:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.engine = VllmEngine(settings)
        self.prompts: PromptBuilder | None = None

    async def start(self) -> None:
        await self.engine.start()
        self.prompts = PromptBuilder(
            self.engine.tokenizer,
            fallback_template=self.settings.chat_template,
            max_model_len=self.settings.max_model_len,
            default_max_tokens=self.settings.default_max_tokens,
        )

    async def shutdown(self) -> None:
        await self.engine.shutdown()

    async def one_chat(self, messages: list[Message], max_tokens: int) -> Sample:
        assert self.prompts is not None
        started = time.perf_counter()
        prompt = self.prompts.build(
            [ChatMessage(role=m.role, content=m.content) for m in messages],  # type: ignore[arg-type]
            SamplingParams(temperature=0, max_tokens=max_tokens),
        )
        ttft: float | None = None
        tokens = 0
        try:
            async for delta in self.engine.generate(
                uuid.uuid4().hex, prompt.token_ids, prompt.params
            ):
                if ttft is None and delta.text:
                    ttft = time.perf_counter() - started
                tokens += len(delta.token_ids)
        except Exception as exc:  # a benchmark records failures, it does not stop
            return Sample(ttft_s=ttft, completion_tokens=tokens, ok=False, error=type(exc).__name__)
        return Sample(ttft_s=ttft, completion_tokens=tokens, ok=True)

    async def run_level(
        self, chats: list[list[Message]], concurrency: int, max_tokens: int
    ) -> tuple[list[Sample], float]:
        gate = asyncio.Semaphore(concurrency)

        async def bounded(messages: list[Message]) -> Sample:
            async with gate:
                return await self.one_chat(messages, max_tokens)

        started = time.perf_counter()
        samples = await asyncio.gather(*(bounded(chat) for chat in chats))
        return list(samples), time.perf_counter() - started
