"""Precedence of chat defaults: request > conversation > user settings > model defaults."""

from __future__ import annotations

import pytest

from chat_api.chat.defaults import (
    compose_messages,
    compose_model,
    compose_sampling,
    fit_history,
    history_of,
    history_request,
    system_prompt_of,
)
from chat_api.errors import ApiError
from chat_api.settings import ApiSettings
from contracts.accounts import UserSettings
from contracts.conversations import ConversationDetail, ConversationView, MessageView
from contracts.inference import ChatMessage, SamplingParams

SETTINGS = ApiSettings(
    jwt_secret="s", models=("gemma3-270m", "big"), max_messages=6, max_input_chars=100
)
USER = ChatMessage(role="user", content="hi")


def _detail(prompt: str | None = None, *messages: tuple[str, str, str]) -> ConversationDetail:
    return ConversationDetail(
        conversation=ConversationView(
            id="c", user_id="u", title="", system_prompt=prompt, created_at=0, updated_at=0
        ),
        messages=[
            MessageView(id=str(i), role=role, content=content, status=status, created_at=0)  # type: ignore[arg-type]
            for i, (role, content, status) in enumerate(messages)
        ],
    )


def test_system_prompt_precedence() -> None:
    assert system_prompt_of("req", "conv", "user") == "req"
    assert system_prompt_of(None, "conv", "user") == "conv"
    assert system_prompt_of("  ", None, "user") == "user"
    assert system_prompt_of(None, "", None) is None


def test_plain_chat_gets_the_settings_prompt_only_without_its_own() -> None:
    defaults = UserSettings(system_prompt="S")
    assert compose_messages(SETTINGS, (USER,), defaults, None) == (
        ChatMessage(role="system", content="S"),
        USER,
    )
    own = (ChatMessage(role="system", content="mine"), USER)
    assert compose_messages(SETTINGS, own, defaults, None) == own
    assert compose_messages(SETTINGS, (USER,), None, None) == (USER,)
    assert compose_messages(SETTINGS, (USER,), UserSettings(), None) == (USER,)


def test_conversation_chat_layout() -> None:
    detail = _detail(
        "conv",
        ("user", "q1", "complete"),
        ("assistant", "a1", "complete"),
        ("assistant", "", "cancelled"),
        ("user", "q2", "failed"),
    )
    composed = compose_messages(SETTINGS, (USER,), UserSettings(system_prompt="S"), detail)
    assert [(m.role, m.content) for m in composed] == [
        ("system", "conv"),
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "hi"),
    ]
    no_conv_prompt = compose_messages(SETTINGS, (USER,), UserSettings(system_prompt="S"), _detail())
    assert no_conv_prompt[0] == ChatMessage(role="system", content="S")


def test_conversation_chat_needs_a_final_user_turn() -> None:
    with pytest.raises(ApiError) as info:
        compose_messages(SETTINGS, (ChatMessage(role="system", content="x"),), None, _detail())
    assert info.value.status_code == 400


def test_history_is_trimmed_oldest_first_and_never_starts_with_an_answer() -> None:
    history = [
        ChatMessage(role="user" if i % 2 == 0 else "assistant", content=f"m{i}") for i in range(10)
    ]
    kept = fit_history(SETTINGS, [ChatMessage(role="system", content="s")], history, [USER])
    assert len(kept) <= SETTINGS.max_messages
    assert kept[1].role == "user"
    assert kept[-1] == USER
    by_chars = fit_history(
        SETTINGS, [], [ChatMessage(role="user", content="x" * 97), *history[-2:]], [USER]
    )
    assert [m.content for m in by_chars] == ["m8", "m9", "hi"]


def test_history_request_asks_for_the_room_fit_history_has() -> None:
    messages = (ChatMessage(role="system", content="sys"), ChatMessage(role="user", content="q"))
    asked = history_request(SETTINGS, "u", "c", messages)
    assert (asked.user_id, asked.conversation_id) == ("u", "c")
    assert (asked.limit, asked.max_chars) == (4, 96)
    assert (asked.statuses, asked.skip_empty) == (("complete", "cancelled"), True)
    full = history_request(SETTINGS, "u", "c", (ChatMessage(role="user", content="x" * 100),))
    assert (full.limit, full.max_chars) == (0, 0)  # no room: the conversation alone
    many = ApiSettings(jwt_secret="s", max_messages=5000)
    assert history_request(many, "u", "c", (USER,)).limit == 1000  # the page maximum


def test_history_of_keeps_complete_and_cancelled_with_content() -> None:
    detail = _detail(
        None,
        ("user", "a", "complete"),
        ("assistant", "b", "cancelled"),
        ("assistant", "c", "failed"),
        ("system", "d", "complete"),
    )
    assert [m.content for m in history_of(detail)] == ["a", "b"]


def test_sampling_and_model_precedence() -> None:
    defaults = UserSettings(model="big", temperature=0.2, top_p=0.9, max_tokens=50)
    sampling = compose_sampling(SamplingParams(temperature=1.0, stop=("x",), seed=3), defaults)
    assert sampling == SamplingParams(
        temperature=1.0, top_p=0.9, max_tokens=50, stop=("x",), seed=3
    )
    assert compose_sampling(SamplingParams(), None) == SamplingParams()
    assert compose_model(SETTINGS, "gemma3-270m", defaults) == "gemma3-270m"
    assert compose_model(SETTINGS, None, defaults) == "big"
    assert compose_model(SETTINGS, None, UserSettings(model="retired")) is None
    assert compose_model(SETTINGS, None, None) is None
