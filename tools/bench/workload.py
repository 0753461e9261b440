"""The prompts both paths run: the same list, in the same order, greedy decoding, so
the platform and the direct engine generate the same tokens."""

from __future__ import annotations

import msgspec

SHORT_PROMPTS = [
    "Explain why the sky is blue.",
    "Write a short poem about rain.",
    "What is a hash table?",
    "Give three tips for learning a language.",
    "Describe a sunrise over the sea.",
    "What does a compiler do?",
    "Tell me a fact about octopuses.",
    "How do airplanes stay in the air?",
    "Summarise the plot of a detective story.",
    "Why do cats purr?",
]

# A neutral paragraph repeated to reach about 2,000 tokens with the Gemma tokenizer.
_FILLER = (
    "The committee met on Tuesday to review the quarterly report. Revenue grew in "
    "the northern region while costs in logistics rose slightly. Several members "
    "asked for a clearer breakdown of spending on maintenance and training. "
)


class Message(msgspec.Struct, frozen=True):
    role: str
    content: str


def short_chat(index: int) -> list[Message]:
    return [Message("user", SHORT_PROMPTS[index % len(SHORT_PROMPTS)])]


def long_context_chat(index: int, repeats: int = 45) -> list[Message]:
    """About 2k prompt tokens. A distinct first line per request so the engine's prefix
    cache cannot serve it: this measures a cold 2k-token prefill."""
    body = _FILLER * repeats
    return [Message("user", f"Report number {index}.\n{body}\nSummarise the report.")]
