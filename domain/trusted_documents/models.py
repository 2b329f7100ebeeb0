from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base


class TrustedDocument(Base):
    """A GraphQL document a known client (a portal build, a partner) registered by its SHA-256 hash:
    requests may name it by the hash instead of sending its text (migration 0035: the database checks
    the hash is the body's)."""

    __tablename__ = "trusted_documents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[str] = mapped_column(Text)
    client_name: Mapped[str] = mapped_column(String(80))
    registered_by: Mapped[str] = mapped_column(String(120))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_by: Mapped[str | None] = mapped_column(String(120))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
