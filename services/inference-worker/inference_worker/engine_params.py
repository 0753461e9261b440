"""What the worker asks of an engine for one generation, and what it gets back."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from contracts.inference import FinishReason


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
