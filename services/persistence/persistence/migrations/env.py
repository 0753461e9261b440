"""Alembic environment of the persistence service (``llmchat_sql.alembic_env``)."""

from __future__ import annotations

from llmchat_sql.alembic_env import run_migrations
from persistence.models import Base
from persistence.settings import load_settings

run_migrations(Base.metadata, lambda: load_settings().db_url)
