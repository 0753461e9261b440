"""chat_api: the Litestar edge API (auth, validation, SSE relay of NATS token chunks)."""

from chat_api.app import create_app
from chat_api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
