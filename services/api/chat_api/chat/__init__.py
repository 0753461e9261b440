"""Native chat route: ``POST /api/chat`` streaming SSE."""

from chat_api.chat.controllers import ChatController
from chat_api.chat.service import ChatService, ChatSpec

__all__ = ["ChatController", "ChatService", "ChatSpec"]
