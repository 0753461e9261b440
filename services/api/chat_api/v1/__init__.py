"""OpenAI-compatible API (``/v1``) so the official ``openai`` client works unchanged."""

from chat_api.v1.controllers import OpenAIController

__all__ = ["OpenAIController"]
