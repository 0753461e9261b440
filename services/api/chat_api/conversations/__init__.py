"""Saved conversations (FR-4): CRUD and export."""

from chat_api.conversations.controllers import ConversationController
from chat_api.conversations.service import ConversationService

__all__ = ["ConversationController", "ConversationService"]
