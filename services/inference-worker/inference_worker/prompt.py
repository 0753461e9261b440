"""Chat messages -> prompt token ids, and the token budget of one request.

The tokenizer's own chat template is used when it has one; otherwise a built-in
fallback named by ``WORKER_CHAT_TEMPLATE`` (the Gemma 3 270M tokenizer has none, so
the fallback is the default path here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec

from contracts.errors import ErrorCode
from contracts.inference import ChatMessage, SamplingParams
from inference_worker.engine import GenerationParams


class PromptTokenizer(Protocol):
    """The part of a Hugging Face tokenizer the prompt builder uses."""

    @property
    def chat_template(self) -> str | None: ...

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...

    def convert_tokens_to_ids(self, tokens: str) -> Any: ...


class PromptError(Exception):
    """A request whose prompt cannot be served; ``code`` is an ``ErrorCode``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Prompt(msgspec.Struct, frozen=True):
    token_ids: list[int]
    params: GenerationParams


def render_gemma(messages: Sequence[ChatMessage]) -> str:
    """Gemma's turn format; a system prompt is folded into the first user turn."""
    parts = ["<bos>"]
    system = ""
    for message in messages:
        content = message.content.strip()
        if message.role == "system":
            system = f"{system}{content}\n\n"
            continue
        role = "model" if message.role == "assistant" else "user"
        if system and role == "user":
            content, system = system + content, ""
        parts.append(f"<start_of_turn>{role}\n{content}<end_of_turn>\n")
    if system:  # only system messages (or a system after the last user turn)
        parts.append(f"<start_of_turn>user\n{system.rstrip()}<end_of_turn>\n")
    parts.append("<start_of_turn>model\n")
    return "".join(parts)


class FallbackTemplate(msgspec.Struct, frozen=True):
    render: Callable[[Sequence[ChatMessage]], str]
    stop_tokens: tuple[str, ...]
    """Special tokens that end the model's turn (passed to the engine as stop ids)."""


FALLBACK_TEMPLATES: dict[str, FallbackTemplate] = {
    "gemma": FallbackTemplate(render=render_gemma, stop_tokens=("<end_of_turn>",)),
}


class PromptBuilder:
    """Built once per engine; ``build`` is called once per request."""

    def __init__(
        self,
        tokenizer: PromptTokenizer,
        *,
        fallback_template: str,
        max_model_len: int,
        default_max_tokens: int,
    ) -> None:
        if fallback_template not in FALLBACK_TEMPLATES:
            raise ValueError(
                f"unknown chat template {fallback_template!r}; "
                f"built-in: {', '.join(FALLBACK_TEMPLATES)}"
            )
        self._tokenizer = tokenizer
        self._max_model_len = max_model_len
        self._default_max_tokens = default_max_tokens
        self.uses_tokenizer_template = bool(getattr(tokenizer, "chat_template", None))
        self._fallback = FALLBACK_TEMPLATES[fallback_template]
        stop_ids: list[int] = []
        if not self.uses_tokenizer_template:
            for token in self._fallback.stop_tokens:
                token_id = tokenizer.convert_tokens_to_ids(token)
                if isinstance(token_id, int) and token_id >= 0:
                    stop_ids.append(token_id)
        self._stop_token_ids = tuple(stop_ids)

    def render(self, messages: Sequence[ChatMessage]) -> str:
        if self.uses_tokenizer_template:
            conversation = [{"role": m.role, "content": m.content} for m in messages]
            text = self._tokenizer.apply_chat_template(
                conversation, tokenize=False, add_generation_prompt=True
            )
            if not isinstance(text, str):
                raise TypeError(f"apply_chat_template returned {type(text).__name__}")
            return text
        return self._fallback.render(messages)

    def build(self, messages: Sequence[ChatMessage], sampling: SamplingParams) -> Prompt:
        """Token ids + engine parameters; ``PromptError`` if the request cannot fit."""
        if not messages:
            raise PromptError(ErrorCode.INVALID_REQUEST, "no messages")
        # The rendered text carries its own special tokens (<bos>, turn markers).
        token_ids = self._tokenizer.encode(self.render(messages), add_special_tokens=False)
        prompt_len = len(token_ids)
        room = self._max_model_len - prompt_len
        if room < 1:
            raise PromptError(
                ErrorCode.CONTEXT_TOO_LONG,
                f"the prompt has {prompt_len} tokens; this model's context is "
                f"{self._max_model_len} tokens",
            )
        requested = sampling.max_tokens or self._default_max_tokens
        if requested < 1:
            raise PromptError(ErrorCode.INVALID_REQUEST, "max_tokens must be >= 1")
        params = GenerationParams(
            max_tokens=min(requested, room),
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=sampling.seed,
            stop=sampling.stop,
            stop_token_ids=self._stop_token_ids,
        )
        return Prompt(token_ids, params)
