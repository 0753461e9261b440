"""Building the ChatRequest from a body: pure functions, no app."""

from __future__ import annotations

import pytest

from chat_api.auth import AuthUser
from chat_api.chat.controllers import spec_from_body
from chat_api.chat.schemas import ChatBody, MessageIn
from chat_api.chat.service import ChatSpec, build_request, check_limits, resolve_model
from chat_api.errors import ApiError
from chat_api.settings import ApiSettings
from contracts.inference import ChatMessage, SamplingParams


def test_build_request_defaults(settings: ApiSettings) -> None:
    spec = spec_from_body(ChatBody(messages=[MessageIn(role="user", content="q")]))
    request = build_request(
        settings,
        spec,
        AuthUser(id="u", role="user"),
        "rid",
        resolve_model(settings, spec.model),
        now=1000.0,
    )
    assert request.model == settings.default_model
    assert request.deadline == 1000.0 + settings.request_timeout_s
    assert request.sampling == SamplingParams()
    assert request.messages == (ChatMessage(role="user", content="q"),)


def test_system_prompt_goes_first() -> None:
    spec = spec_from_body(
        ChatBody(
            messages=[MessageIn(role="user", content="q")], system_prompt="sys", stop=["x"], seed=7
        )
    )
    assert spec.messages[0] == ChatMessage(role="system", content="sys")
    assert spec.sampling.stop == ("x",)
    assert spec.sampling.seed == 7


def test_limits_count_all_messages(settings: ApiSettings) -> None:
    half = "x" * (settings.max_input_chars // 2 + 1)
    spec = ChatSpec(
        messages=(ChatMessage(role="system", content=half), ChatMessage(role="user", content=half))
    )
    with pytest.raises(ApiError) as info:
        check_limits(settings, spec)
    assert info.value.status_code == 400


def test_unknown_model(settings: ApiSettings) -> None:
    with pytest.raises(ApiError) as info:
        resolve_model(settings, "nope")
    assert info.value.code == "model_not_found"
    assert info.value.status_code == 404
