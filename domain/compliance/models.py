"""ORM models of the screening tables (migrations/versions/0006_clients.py and 0043_rescreen.py own the DDL)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base

TS = DateTime(timezone=True)


class ScreeningList(Base):
    __tablename__ = "screening_lists"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    format: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(80))
    entity_count: Mapped[int] = mapped_column(Integer, default=0)
    loaded_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class ScreeningEntity(Base):
    __tablename__ = "screening_entities"

    list_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    schema: Mapped[str] = mapped_column(String(32))
    caption: Mapped[str] = mapped_column(String(300))
    names: Mapped[list[str]] = mapped_column(ARRAY(Text))
    birth_dates: Mapped[list[str]] = mapped_column(ARRAY(String(10)), default=list)
    countries: Mapped[list[str]] = mapped_column(ARRAY(String(8)), default=list)
    topics: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    content_hash: Mapped[str | None] = mapped_column(String(32))  # lists.content_hash (0043)


class ScreeningResult(Base):
    __tablename__ = "screening_results"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[int] = mapped_column(BigInteger)
    list_name: Mapped[str] = mapped_column(String(80))
    list_version: Mapped[str] = mapped_column(String(80))
    matcher_version: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    score: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    entity_id: Mapped[str | None] = mapped_column(String(120))
    entity_caption: Mapped[str | None] = mapped_column(String(300))
    topics: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    status: Mapped[str] = mapped_column(String(16))
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    review_reason: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(BigInteger)  # the AML case the hit opened or joined (0043)
    run_id: Mapped[int | None] = mapped_column(BigInteger)  # the re-screening run that found it (0043)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
