"""The built web app, served at ``/`` by the api (same origin, no CORS needed)."""

from chat_api.web.routes import RESERVED_PREFIXES, web_app_router

__all__ = ["RESERVED_PREFIXES", "web_app_router"]
