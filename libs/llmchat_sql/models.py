"""What the services' SQLAlchemy models share: constraint names by one convention, so
Alembic migrations name them the same on PostgreSQL and SQLite and in every service."""

from __future__ import annotations

import sqlalchemy as sa

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def named_metadata() -> sa.MetaData:
    """A ``MetaData`` for a service's declarative base, with ``NAMING_CONVENTION``."""
    return sa.MetaData(naming_convention=NAMING_CONVENTION)
