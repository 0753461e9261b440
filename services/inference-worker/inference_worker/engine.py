"""The engine seam: ``Engine`` protocol, ``VllmEngine`` (real) and ``ScriptedEngine`` (stand-in).

``VllmEngine`` wraps vLLM's in-process ``AsyncLLM``; the CPU build and the CUDA build
differ only in configuration (``WorkerSettings``: dtype, memory fraction, tensor
parallelism, eager mode), never in code. vLLM starts its engine core in a child
process (spawn): the entry point needs the ``__main__`` guard.

``ScriptedEngine`` is a STAND-IN for protocol tests (timing, hangs, crashes): it
"generates" a fixed text at a fixed token rate and understands directives in the
last user message: ``[[hang]]`` (no tokens until aborted), ``[[fail]]`` (raise after
the first token), ``[[crash]]`` (after the first token the whole engine dies, as when
vLLM's engine core process is killed: every generation raises, ``failure`` is set),
``[[tokens=N]]`` (exactly N tokens unless max_tokens is smaller).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import msgspec

from contracts.inference import FinishReason

if TYPE_CHECKING:
    from inference_worker.prompt import PromptTokenizer
    from inference_worker.settings import WorkerSettings

log = logging.getLogger(__name__)


class GenerationParams(msgspec.Struct, frozen=True, kw_only=True):
    """Resolved sampling for one request: ``max_tokens`` already fits the context;
    ``None`` means the engine's / model's default."""

    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()


class EngineDelta(NamedTuple):
    """New output of one decode step (a NamedTuple: cheap on the per-token path)."""

    text: str
    token_ids: tuple[int, ...]
    finish_reason: FinishReason | None


class Engine(Protocol):
    name: str
    """``vllm`` / ``scripted``: reported in heartbeats."""

    @property
    def tokenizer(self) -> PromptTokenizer:
        """Valid after ``start``."""
        ...

    @property
    def running(self) -> int:
        """Generations the engine has not finished (a gauge of the worker's metrics)."""
        ...

    @property
    def failure(self) -> str | None:
        """Why the started engine can generate nothing any more (vLLM: its engine core
        process died), else None. The worker polls it: cheap, never blocks."""
        ...

    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...

    def generate(
        self, request_id: str, prompt_token_ids: list[int], params: GenerationParams
    ) -> AsyncGenerator[EngineDelta, None]:
        """Deltas until one carries a ``finish_reason``. Closing the iterator early
        (or cancelling the task iterating it) must stop the generation."""
        ...

    async def abort(self, request_id: str) -> None:
        """Stop a generation; a no-op for an unknown or finished id."""
        ...


# vLLM finish reasons -> wire finish reasons.
_VLLM_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "abort": "cancelled",
    "error": "error",
}


class VllmEngine:
    """vLLM ``AsyncLLM`` in this process (engine core in a child process)."""

    name = "vllm"

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._llm: Any = None
        self._tokenizer: Any = None
        self._sampling_cls: Any = None
        self._delta_kind: Any = None
        self._prompt_cls: Any = None

    @property
    def tokenizer(self) -> PromptTokenizer:
        if self._tokenizer is None:
            raise RuntimeError("engine not started")
        tokenizer: PromptTokenizer = self._tokenizer
        return tokenizer

    def engine_args(self) -> Any:
        """The ``AsyncEngineArgs`` built from settings: the only CPU/CUDA difference."""
        from vllm.engine.arg_utils import AsyncEngineArgs

        s = self._settings
        extra: dict[str, Any] = {}
        if s.quantization is not None:  # a profile's; the env settings never set them
            extra["quantization"] = s.quantization
        if s.kv_cache_dtype != "auto":
            extra["kv_cache_dtype"] = s.kv_cache_dtype
        return AsyncEngineArgs(
            model=str(s.model_path),
            served_model_name=[s.model],
            dtype=s.dtype,
            max_model_len=s.max_model_len,
            gpu_memory_utilization=s.gpu_memory_utilization,
            max_num_seqs=s.max_num_seqs,
            enforce_eager=s.enforce_eager,
            tensor_parallel_size=s.tensor_parallel_size,
            disable_log_stats=True,
            **extra,
        )

    def _build(self) -> Any:
        from vllm.v1.engine.async_llm import AsyncLLM

        stat_loggers: list[Any] | None = None
        if self._settings.engine_stats:
            # vLLM's own Prometheus families (vllm:num_requests_running / _waiting,
            # vllm:kv_cache_usage_perc, ...) in the process-global registry, which the
            # worker's metrics endpoint serves. Only this logger: not the periodic log lines.
            from vllm.v1.metrics.loggers import PrometheusStatLogger

            stat_loggers = [PrometheusStatLogger]
        return AsyncLLM.from_engine_args(self.engine_args(), stat_loggers=stat_loggers)

    async def start(self) -> None:
        from vllm import SamplingParams, TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        if not self._settings.model_path.is_dir():
            raise FileNotFoundError(
                f"model folder {self._settings.model_path} not found "
                "(run `python -m inference_worker.model_prep`)"
            )
        self._sampling_cls = SamplingParams
        self._prompt_cls = TokensPrompt
        self._delta_kind = RequestOutputKind.DELTA
        # Building blocks for ~40 s (weights, warm-up): keep the event loop (and the
        # heartbeats) running meanwhile. AsyncLLM starts its output handler lazily on
        # the first request, in this loop.
        self._llm = await asyncio.to_thread(self._build)
        self._tokenizer = self._llm.get_tokenizer()

    async def shutdown(self) -> None:
        if self._llm is not None:
            llm, self._llm = self._llm, None
            # Stop the output handler first, or it reports the engine core's exit as
            # "EngineDeadError" while the core shuts down.
            handler = getattr(llm, "output_handler", None)
            if isinstance(handler, asyncio.Task):
                handler.cancel()
                await asyncio.gather(handler, return_exceptions=True)
            await asyncio.to_thread(llm.shutdown)

    async def generate(
        self, request_id: str, prompt_token_ids: list[int], params: GenerationParams
    ) -> AsyncGenerator[EngineDelta, None]:
        kwargs: dict[str, Any] = {}
        if params.temperature is not None:
            kwargs["temperature"] = params.temperature
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.seed is not None:
            kwargs["seed"] = params.seed
        sampling = self._sampling_cls(
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
            stop_token_ids=list(params.stop_token_ids) or None,
            output_kind=self._delta_kind,
            **kwargs,
        )
        prompt = self._prompt_cls(prompt_token_ids=prompt_token_ids)
        async for out in self._llm.generate(prompt, sampling, request_id):
            completion = out.outputs[0]
            reason = completion.finish_reason
            yield EngineDelta(
                completion.text,
                tuple(completion.token_ids),
                None if reason is None else _VLLM_FINISH.get(reason, "stop"),
            )

    async def abort(self, request_id: str) -> None:
        # A dead engine has nothing to abort (and its core would never answer).
        if self._llm is not None and not self._llm.errored:
            await self._llm.abort(request_id)

    @property
    def running(self) -> int:
        """Generations the engine has not finished (aborted ones leave at once)."""
        return 0 if self._llm is None else int(self._llm.get_num_unfinished_requests())

    @property
    def failure(self) -> str | None:
        # ``errored``: vLLM's core monitor saw the engine core process exit, or the output
        # handler task died. A shut-down engine has ``_llm`` None: not a failure.
        if self._llm is not None and self._llm.errored:
            return "the vLLM engine core died"
        return None


class ScriptedTokenizer:
    """Whitespace "tokenizer" of the stand-in engine: one id per distinct word (assigned
    on first sight, so ``decode`` can invert it), no chat template."""

    chat_template: str | None = None

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._words: list[str] = []

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [self.convert_tokens_to_ids(word) for word in text.split()]

    def decode(self, token_ids: list[int]) -> str:
        return " ".join(self._words[i] for i in token_ids)

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the scripted tokenizer has no chat template")

    def convert_tokens_to_ids(self, tokens: str) -> int:
        token_id = self._ids.get(tokens)
        if token_id is None:
            token_id = self._ids[tokens] = len(self._words)
            self._words.append(tokens)
        return token_id


_DIRECTIVE = re.compile(r"\[\[(hang|fail|crash|tokens=(\d+))\]\]")


class ScriptedEngine:
    """STAND-IN engine for protocol tests and capacity benchmarks: deterministic words
    (``WORKER_SCRIPTED_TEXT``, its line breaks kept) at a fixed rate."""

    name = "scripted"

    def __init__(
        self,
        *,
        tokens_per_s: float = 200.0,
        text: str = "The quick brown fox.",
        start_s: float = 0.0,
        fail_start: bool = False,
    ) -> None:
        self._interval = 1.0 / tokens_per_s
        # A word and the whitespace after it (one space at the end), so a text with line
        # breaks (markdown: lists, code, tables) streams with its layout.
        words = re.findall(r"\S+\s*", text)
        self._words = [w if w[-1].isspace() else f"{w} " for w in words] or ["x "]
        self._start_s = start_s
        self._fail_start = fail_start
        self._tokenizer = ScriptedTokenizer()
        self._aborted: dict[str, asyncio.Event] = {}
        self.prompts: dict[str, list[int]] = {}
        """Prompt ids seen per request id (tests inspect it)."""
        self.generating = asyncio.Event()
        """Set once a generation has started (tests await it)."""
        self._failure: str | None = None
        self._crashed = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> ScriptedEngine:
        return cls(
            tokens_per_s=settings.scripted_tokens_per_s,
            text=settings.scripted_text,
            start_s=settings.scripted_start_s,
            fail_start=settings.scripted_fail_start,
        )

    @property
    def tokenizer(self) -> PromptTokenizer:
        return self._tokenizer

    @property
    def running(self) -> int:
        return len(self._aborted)

    @property
    def failure(self) -> str | None:
        return self._failure

    def crash(self) -> None:
        """Die like a killed engine core: every generation, running or new, raises."""
        self._failure = "scripted engine crashed"
        self._crashed.set()

    async def start(self) -> None:
        await asyncio.sleep(self._start_s)
        if self._fail_start:
            raise RuntimeError("scripted engine told to fail at start")

    async def shutdown(self) -> None:
        for event in self._aborted.values():
            event.set()

    async def generate(
        self, request_id: str, prompt_token_ids: list[int], params: GenerationParams
    ) -> AsyncGenerator[EngineDelta, None]:
        if self._failure is not None:
            raise RuntimeError(self._failure)
        aborted = self._aborted[request_id] = asyncio.Event()
        self.prompts[request_id] = prompt_token_ids
        self.generating.set()
        try:
            directive = self._directive(prompt_token_ids)
            if directive == "hang":
                await _first_of(aborted, self._crashed)
                if self._failure is not None:
                    raise RuntimeError(self._failure)
                yield EngineDelta("", (), "cancelled")
                return
            target = len(self._words) if directive in (None, "fail", "crash") else int(directive)
            count = min(target, params.max_tokens)
            for i in range(count):
                await asyncio.sleep(self._interval)
                if directive == "crash" and i == 1:
                    self.crash()
                if self._failure is not None:
                    raise RuntimeError(self._failure)
                if aborted.is_set():
                    yield EngineDelta("", (), "cancelled")
                    return
                if directive == "fail" and i == 1:
                    raise RuntimeError("scripted engine failure")
                word = self._words[i % len(self._words)]
                last = i == count - 1
                reason: FinishReason | None = None
                if last:
                    reason = "length" if count < target else "stop"
                yield EngineDelta(word, (self._tokenizer.convert_tokens_to_ids(word),), reason)
        finally:
            self._aborted.pop(request_id, None)

    def _directive(self, prompt_token_ids: list[int]) -> str | None:
        found = _DIRECTIVE.findall(self._tokenizer.decode(prompt_token_ids))
        if not found:
            return None
        name, count = found[-1]
        return str(count or name)

    async def abort(self, request_id: str) -> None:
        event = self._aborted.get(request_id)
        if event is not None:
            event.set()


async def _first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def build_engine(settings: WorkerSettings) -> Engine:
    if settings.engine == "scripted":
        return ScriptedEngine.from_settings(settings)
    return VllmEngine(settings)
