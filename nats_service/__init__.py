"""The building blocks of a Python service driven by NATS: the SQL database handle
(``database``), Alembic migrations (``migrations``), the request-reply server (``rpc``),
the durable consumer of chat events (``events``), the shared steps of a lifespan
(``lifespan``: signals, connecting, waiting for the database, draining), the tracing of
message handlers (``tracing``) and the Prometheus endpoint (``metrics_endpoint``).

persistence and metering are built from these pieces; model-admin uses the request-reply
server and the lifespan steps, the inference worker the tracing and the endpoint. Each
service keeps its domain logic, settings and entry points; only this infrastructure is
shared. One package, not a copy per service: how a request is answered, how an outage
is told from a refusal and how a schema is upgraded are one policy, and copies of it
would drift.
"""
