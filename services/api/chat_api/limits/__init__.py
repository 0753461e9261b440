"""Rate limits and admission control of chats (per user, per API key, per model queue).

Only the policy values are exported here, because ``ApiSettings`` builds them; import
the working parts from their modules: ``admission`` (``ChatAdmission``, what
``ChatService`` asks), ``limiter`` (``RateLimiter``, ``Ticket``), ``store`` (the
``LimitStore`` seam), ``memory_store`` / ``redis_store`` (its two implementations),
``queue`` (``QueueMonitor``: queue depth per model).
"""

from chat_api.limits.policy import Limits, QueueBounds, RateLimitPolicy

__all__ = ["Limits", "QueueBounds", "RateLimitPolicy"]
