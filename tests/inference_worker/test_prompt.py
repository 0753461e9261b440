from __future__ import annotations

from typing import Any

import pytest

from contracts.errors import ErrorCode
from contracts.inference import ChatMessage, SamplingParams
from inference_worker.engine import ScriptedTokenizer
from inference_worker.prompt import PromptBuilder, PromptError, render_gemma


def _msgs(*pairs: tuple[str, str]) -> tuple[ChatMessage, ...]:
    return tuple(ChatMessage(role=role, content=content) for role, content in pairs)  # type: ignore[arg-type]


def test_gemma_template_turns_and_generation_prompt() -> None:
    text = render_gemma(_msgs(("user", "Hi"), ("assistant", "Hello!"), ("user", "Bye ")))
    assert text == (
        "<bos><start_of_turn>user\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_gemma_template_folds_system_into_first_user_turn() -> None:
    text = render_gemma(_msgs(("system", "Be brief."), ("user", "Hi")))
    assert text == (
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
    )


class TemplateTokenizer(ScriptedTokenizer):
    """A tokenizer that has its own chat template."""

    chat_template = "{{ messages }}"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Any] = []

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:
        self.calls.append((conversation, kwargs))
        return "|".join(f"{m['role']}:{m['content']}" for m in conversation) + "|assistant:"


def test_tokenizer_template_wins_over_fallback() -> None:
    tokenizer = TemplateTokenizer()
    builder = PromptBuilder(
        tokenizer, fallback_template="gemma", max_model_len=100, default_max_tokens=10
    )
    assert builder.uses_tokenizer_template
    prompt = builder.build(_msgs(("user", "a b")), SamplingParams())
    assert tokenizer.decode(prompt.token_ids) == "user:a b|assistant:"
    conversation, kwargs = tokenizer.calls[0]
    assert conversation == [{"role": "user", "content": "a b"}]
    assert kwargs == {"tokenize": False, "add_generation_prompt": True}
    assert prompt.params.stop_token_ids == ()  # the template owns its stops


def test_fallback_template_adds_end_of_turn_stop_id() -> None:
    tokenizer = ScriptedTokenizer()
    builder = PromptBuilder(
        tokenizer, fallback_template="gemma", max_model_len=100, default_max_tokens=10
    )
    assert not builder.uses_tokenizer_template
    prompt = builder.build(_msgs(("user", "hello there")), SamplingParams(temperature=0.5))
    assert tokenizer.decode(prompt.token_ids) == (
        "<bos><start_of_turn>user hello there<end_of_turn> <start_of_turn>model"
    )
    assert prompt.params.stop_token_ids == (tokenizer.convert_tokens_to_ids("<end_of_turn>"),)
    assert prompt.params.temperature == 0.5
    assert prompt.params.max_tokens == 10  # the default


def test_max_tokens_is_clamped_to_the_room_left() -> None:
    builder = PromptBuilder(
        ScriptedTokenizer(), fallback_template="gemma", max_model_len=10, default_max_tokens=256
    )
    prompt = builder.build(_msgs(("user", "one two")), SamplingParams(max_tokens=100))
    assert len(prompt.token_ids) + prompt.params.max_tokens == 10


def test_prompt_longer_than_context_is_refused() -> None:
    builder = PromptBuilder(
        ScriptedTokenizer(), fallback_template="gemma", max_model_len=8, default_max_tokens=4
    )
    with pytest.raises(PromptError) as info:
        builder.build(_msgs(("user", " ".join(["w"] * 20))), SamplingParams())
    assert info.value.code is ErrorCode.CONTEXT_TOO_LONG
    assert "8 tokens" in str(info.value)


def test_unknown_fallback_template() -> None:
    with pytest.raises(ValueError, match="unknown chat template"):
        PromptBuilder(
            ScriptedTokenizer(), fallback_template="nope", max_model_len=8, default_max_tokens=4
        )
