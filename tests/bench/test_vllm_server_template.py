"""vLLM's server in the comparison gets a Jinja template that renders what the worker's
built-in Gemma template does: otherwise the two would not run the same prompts."""

from __future__ import annotations

import pytest

from bench.vllm_server import check_template, render_template
from bench.workload import Message, long_context_chat, short_chat
from contracts.inference import ChatMessage
from inference_worker.prompt import render_gemma

CHATS = [
    short_chat(0),
    long_context_chat(1),
    [Message("system", "  Be brief. "), Message("user", "hi ")],
    [
        Message("user", "one"),
        Message("assistant", " two "),
        Message("system", "late system"),
        Message("user", "three"),
    ],
    [Message("system", "only a system prompt")],
    [Message("user", "a"), Message("system", "after the last user turn")],
]


@pytest.mark.parametrize("chat", CHATS, ids=range(len(CHATS)))
def test_the_template_renders_like_the_worker(chat: list[Message]) -> None:
    worker = render_gemma([ChatMessage(role=m.role, content=m.content) for m in chat])  # type: ignore[arg-type]
    assert render_template(chat) == worker


def test_a_template_that_differs_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.vllm_server as module

    monkeypatch.setattr(module, "GEMMA_TEMPLATE", module.GEMMA_TEMPLATE.replace("<bos>", ""))
    with pytest.raises(SystemExit, match="unlike the worker"):
        check_template([short_chat(0)])
