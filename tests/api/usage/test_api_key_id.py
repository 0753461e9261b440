"""The API key a caller used travels with the request into ``RequestAccepted`` (metering
records it); a JWT caller has none."""

from __future__ import annotations

import pytest

from chat_api.auth import AuthUser
from chat_api.bus.events import accepted_event
from chat_api.chat.service import ChatSpec, build_request
from chat_api.settings import ApiSettings
from contracts.inference import ChatMessage


@pytest.mark.parametrize("key_id", ["key-1", None])
def test_api_key_id_reaches_the_accepted_event(settings: ApiSettings, key_id: str | None) -> None:
    user = AuthUser(id="u1", role="user", key_id=key_id)
    spec = ChatSpec(messages=(ChatMessage(role="user", content="hi"),))
    request = build_request(settings, spec, user, "r1", "m", now=100.0)
    assert request.api_key_id == key_id
    event = accepted_event(request, 101.0)
    assert (event.request_id, event.user_id, event.api_key_id) == ("r1", "u1", key_id)
