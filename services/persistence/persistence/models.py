"""The tables persistence owns (SQLAlchemy 2 declarative; one schema for PostgreSQL and
SQLite). Timestamps are UNIX seconds (float, double precision), as on the wire."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from llmchat_sql.models import named_metadata


class _NulFree(sa.types.TypeDecorator[str]):
    """Text from users or models as PostgreSQL can hold it: U+0000, which its text types
    refuse (a client can send it, a byte-fallback token can decode to it), is stored as
    U+FFFD. Same on SQLite, so both dialects read back the same text."""

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and "\x00" in value:
            return value.replace("\x00", "\ufffd")
        return value


class NulFreeString(_NulFree):
    impl = sa.String
    cache_ok = True  # read from each class's own namespace, not inherited


class NulFreeText(_NulFree):
    impl = sa.Text
    cache_ok = True


class Base(DeclarativeBase):
    metadata = named_metadata()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint("role IN ('user', 'admin')", name="role"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    email: Mapped[str] = mapped_column(NulFreeString(320), unique=True)
    """Stored lowercased."""
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default="user", server_default="user")
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    created_at: Mapped[float] = mapped_column(sa.Double)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    family_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    """The sign-in session: the first token's id, kept by every token rotated from it."""
    created_at: Mapped[float] = mapped_column(sa.Double)
    expires_at: Mapped[float] = mapped_column(sa.Double)
    revoked_at: Mapped[float | None] = mapped_column(sa.Double)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(NulFreeString(200))
    prefix: Mapped[str] = mapped_column(sa.String(32))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[float] = mapped_column(sa.Double)
    last_used_at: Mapped[float | None] = mapped_column(sa.Double)
    revoked_at: Mapped[float | None] = mapped_column(sa.Double)


class UserSettingsRow(Base):
    __tablename__ = "user_settings"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    system_prompt: Mapped[str | None] = mapped_column(NulFreeText)
    model: Mapped[str | None] = mapped_column(NulFreeString(200))
    temperature: Mapped[float | None] = mapped_column(sa.Double)
    top_p: Mapped[float | None] = mapped_column(sa.Double)
    max_tokens: Mapped[int | None] = mapped_column(sa.Integer)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (sa.Index("ix_conversations_user_id_updated_at", "user_id", "updated_at"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(NulFreeString(500), default="", server_default="")
    system_prompt: Mapped[str | None] = mapped_column(NulFreeText)
    created_at: Mapped[float] = mapped_column(sa.Double)
    updated_at: Mapped[float] = mapped_column(sa.Double)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "role", name="uq_messages_request_id_role"),
        sa.Index("ix_messages_conv_id_created_at", "conv_id", "created_at", "id"),
        sa.CheckConstraint("role IN ('system', 'user', 'assistant')", name="role"),
        sa.CheckConstraint("status IN ('complete', 'cancelled', 'failed')", name="status"),
    )

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    conv_id: Mapped[str] = mapped_column(sa.ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(sa.String(16))
    content: Mapped[str] = mapped_column(NulFreeText)
    token_in: Mapped[int | None] = mapped_column(sa.Integer)
    token_out: Mapped[int | None] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(
        sa.String(16), default="complete", server_default="complete"
    )
    request_id: Mapped[str | None] = mapped_column(NulFreeString(128))
    created_at: Mapped[float] = mapped_column(sa.Double)
