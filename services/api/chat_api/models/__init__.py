"""Models (issue 5): what users may pick, model administration for admins (profiles,
compatibility dry runs, activations, aliases, a live SSE feed), and the router that turns a
chat's model name into a worker group. Model-admin is reached only through
``chat_api.model_admin_client``.

The controllers are imported from ``chat_api.models.controllers`` by the app (not here:
the chat service imports the router, and the controllers import the chat SSE helpers)."""

from chat_api.models.routing import ModelRouter, Route
from chat_api.models.service import MODELS_KEY, ModelsService

__all__ = ["MODELS_KEY", "ModelRouter", "ModelsService", "Route"]
