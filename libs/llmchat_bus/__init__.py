"""Shared NATS pieces of the Python services: the request-reply server (``rpc``), the
durable consumer of chat events (``events``), the at-least-once publisher (``outbox``),
the lifespan steps every service takes (``lifespan``: signals, connecting, draining), the
tracing of message handlers (``tracing``) and the Prometheus endpoint
(``metrics_endpoint``).

One package, not a copy per service: how a request is answered, how an outage is told
from a refusal and how a consumer settles a message are one policy, and copies of it
would drift. The SQL side lives apart, in ``llmchat_sql``.
"""
