"""Shared SQL pieces of the services that own a database (persistence, metering): the
async engine handle with its outage test (``database``), Alembic migrations
(``migrations``) and the lifespan of such a service (``service``)."""
