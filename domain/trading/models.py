"""ORM models of the trading tables (migrations/versions/0004_trading.py owns the DDL).

Hot paths (ingestion, pagination of deals) use set-based SQL; these models serve the small tables
and typed reads.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, Numeric, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base

TS = DateTime(timezone=True)


class TradingServer(Base):
    __tablename__ = "trading_servers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    platform: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str] = mapped_column(String(300))
    manager_login: Mapped[int] = mapped_column(BigInteger)
    password_enc: Mapped[str] = mapped_column(Text)
    symbol_map: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_success_at: Mapped[datetime | None] = mapped_column(TS)
    last_attempt_at: Mapped[datetime | None] = mapped_column(TS)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class TradingAccount(Base):
    __tablename__ = "trading_accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    server_id: Mapped[int] = mapped_column(BigInteger)
    login: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    group: Mapped[str] = mapped_column(String(64))
    leverage: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(8))
    account_type: Mapped[str] = mapped_column(String(8), default="real")
    account_type_code: Mapped[str | None] = mapped_column(String(32))  # brokerage_account_types.code
    rights: Mapped[str] = mapped_column(String(24), default="ENABLED")
    created_at: Mapped[datetime] = mapped_column(TS)


class Instrument(Base):
    __tablename__ = "trading_instruments"

    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    canonical: Mapped[str] = mapped_column(String(32))
    asset_class: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(200))
    contract_size: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    base_currency: Mapped[str] = mapped_column(String(8))
    quote_currency: Mapped[str] = mapped_column(String(8))
    digits: Mapped[int] = mapped_column(Integer)
    pip_size: Mapped[Decimal] = mapped_column(Numeric(20, 10))
    updated_at: Mapped[datetime] = mapped_column(TS)


class IngestionCursor(Base):
    __tablename__ = "trading_ingestion_cursors"

    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    time_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    deal_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(TS)


class DealRow(Base):
    __tablename__ = "trading_deals"

    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    time: Mapped[datetime] = mapped_column(TS, primary_key=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    login: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(BigInteger)
    position_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[int] = mapped_column(SmallInteger)
    entry: Mapped[int] = mapped_column(SmallInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    price: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    volume: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    profit: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    commission: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    storage: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    fee: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    reason: Mapped[int] = mapped_column(SmallInteger)
    contract_size: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    rate_profit: Mapped[Decimal] = mapped_column(Numeric(24, 12))
    rate_margin: Mapped[Decimal] = mapped_column(Numeric(24, 12))
    notional_usd: Mapped[Decimal | None] = mapped_column(Numeric(24, 8))
    comment: Mapped[str] = mapped_column(String(128))
    external_tag: Mapped[str | None] = mapped_column(String(64))
    batch_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True))
    ingested_at: Mapped[datetime] = mapped_column(TS)


class BalanceOperation(Base):
    __tablename__ = "trading_balance_operations"

    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    time: Mapped[datetime] = mapped_column(TS)
    login: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(24))
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    comment: Mapped[str] = mapped_column(String(128))
    external_tag: Mapped[str | None] = mapped_column(String(64))


class PositionRow(Base):
    __tablename__ = "trading_positions"

    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    position_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    login: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    volume: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    in_volume: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    in_value: Mapped[Decimal] = mapped_column(Numeric(30, 10))
    opened_at: Mapped[datetime | None] = mapped_column(TS)
    last_deal_ms: Mapped[int] = mapped_column(BigInteger)
    snapshot_at: Mapped[datetime | None] = mapped_column(TS)


class IngestionError(Base):
    __tablename__ = "trading_ingestion_errors"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    server_id: Mapped[int] = mapped_column(BigInteger)
    deal_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS)
    resolved_at: Mapped[datetime | None] = mapped_column(TS)

