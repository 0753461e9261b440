"""Shared NATS pieces of the Python services:

- ``broker``: the service's FastStream broker on its own connection, and ``Subscription``:
  one subscriber decoding the contracts Struct (core NATS, or a JetStream stream through
  an ordered consumer);
- ``rpc``: the request-reply server (FastStream subscribers, one per route) and
  ``rpc_client``: the one typed client that calls such servers;
- ``events``: the durable consumer of chat events; ``outbox``: the at-least-once publisher;
- ``lifespan``: the steps every service takes (signals, connecting, serving its parts until
  stopped, draining) and ``entrypoint``: ``python -m <service>``;
- ``tracing``: spans of message handlers; ``metrics_endpoint``: the Prometheus endpoint;
  ``bus_metrics``: FastStream's Prometheus middleware, labelled by subject family;
- ``asyncapi``: the AsyncAPI documents built from the services' brokers (``make asyncapi``).

One package, not a copy per service: how a request is answered, how an outage is told
from a refusal and how a consumer settles a message are one policy, and copies of it
would drift. The SQL side lives apart, in ``llmchat_sql``.
"""
