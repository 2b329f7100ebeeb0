"""ORM models of the client tables (migrations/versions/0006_clients.py owns the DDL)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, LargeBinary, Numeric, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base

TS = DateTime(timezone=True)


class Jurisdiction(Base):
    __tablename__ = "brokerage_jurisdictions"

    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    served: Mapped[bool] = mapped_column(Boolean, default=True)
    regulated: Mapped[bool] = mapped_column(Boolean, default=False)
    regulator: Mapped[str] = mapped_column(String(64), default="")
    high_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class AccountType(Base):
    __tablename__ = "brokerage_account_types"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    pricing: Mapped[str] = mapped_column(String(16))
    commission_per_lot: Mapped[Decimal] = mapped_column(Numeric(20, 8), default=Decimal(0))
    markup_pips: Mapped[Decimal] = mapped_column(Numeric(20, 8), default=Decimal(0))
    currencies: Mapped[list[str]] = mapped_column(ARRAY(String(8)))
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    live: Mapped[bool] = mapped_column(Boolean, default=True)
    server_id: Mapped[int | None] = mapped_column(BigInteger)
    group_name: Mapped[str | None] = mapped_column(String(64))
    default_leverage: Mapped[int] = mapped_column(Integer, default=100)
    max_leverage: Mapped[int] = mapped_column(Integer, default=500)
    min_deposit: Mapped[Decimal] = mapped_column(Numeric(38, 18), default=Decimal(0))


class GroupMapping(Base):
    __tablename__ = "brokerage_group_map"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(String(2))
    account_type: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(8))
    book: Mapped[str] = mapped_column(String(1))
    risk_category: Mapped[str] = mapped_column(String(16))
    server_id: Mapped[int] = mapped_column(BigInteger)
    group_name: Mapped[str] = mapped_column(String(64))


class LeverageCap(Base):
    __tablename__ = "brokerage_leverage_caps"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    asset_class: Mapped[str] = mapped_column(String(32), primary_key=True)
    max_leverage: Mapped[int] = mapped_column(Integer)


class SalesRule(Base):
    __tablename__ = "sales_rules"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(8))
    desk: Mapped[str] = mapped_column(String(64))
    assignees: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    next_index: Mapped[int] = mapped_column(Integer, default=0)


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(8))
    first_touch: Mapped[dict[str, Any]] = mapped_column(JSONB)
    desk: Mapped[str | None] = mapped_column(String(64))
    assigned_to: Mapped[int | None] = mapped_column(BigInteger)
    client_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class LeadTouch(Base):
    __tablename__ = "lead_touches"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lead_id: Mapped[int] = mapped_column(BigInteger)
    attribution: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(String(24))
    kind: Mapped[str] = mapped_column(String(16), default="individual")
    desk: Mapped[str | None] = mapped_column(String(64))
    lead_id: Mapped[int | None] = mapped_column(BigInteger)
    attribution: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    country: Mapped[str | None] = mapped_column(String(2))
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    account_type: Mapped[str] = mapped_column(String(32), default="standard")
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    risk_category: Mapped[str | None] = mapped_column(String(16))
    risk_level: Mapped[str | None] = mapped_column(String(8))
    blocked_products: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    review_round: Mapped[int] = mapped_column(Integer, default=0)
    submitted_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    sealed_identity: Mapped[bytes | None] = mapped_column(LargeBinary)  # under the client's key (0040)
    erased_at: Mapped[datetime | None] = mapped_column(TS)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class StatusChange(Base):
    __tablename__ = "client_status_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[int] = mapped_column(BigInteger)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class Document(Base):
    __tablename__ = "client_documents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reject_reason: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    expires_on: Mapped[date | None] = mapped_column(Date)
    key_scheme: Mapped[str] = mapped_column(String(8), default="client")  # 'process': stored before 0040
    erased_at: Mapped[datetime | None] = mapped_column(TS)
    uploaded_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class Questionnaire(Base):
    __tablename__ = "questionnaires"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class QuestionnaireResponse(Base):
    __tablename__ = "questionnaire_responses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[int] = mapped_column(BigInteger)
    questionnaire_id: Mapped[int] = mapped_column(BigInteger)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    score: Mapped[int] = mapped_column(Integer)
    risk_category: Mapped[str] = mapped_column(String(16))
    blocked_products: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class Decision(Base):
    __tablename__ = "client_decisions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[int] = mapped_column(BigInteger)
    review_round: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class AccountRequest(Base):
    __tablename__ = "client_account_requests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    server_id: Mapped[int] = mapped_column(BigInteger)
    login: Mapped[int] = mapped_column(BigInteger)
    group_name: Mapped[str] = mapped_column(String(64))
    leverage: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    trading_account_id: Mapped[int | None] = mapped_column(BigInteger)
    account_type_code: Mapped[str | None] = mapped_column(String(32))  # the type chosen (or the profile's)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class Communication(Base):
    __tablename__ = "client_communications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8), default="internal")
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    author_user_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class KycApplicant(Base):
    """The client's applicant at the KYC provider and the provider's latest verdict (0006 + 0013)."""

    __tablename__ = "kyc_applicants"

    client_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    applicant_id: Mapped[str] = mapped_column(String(120))
    verdict: Mapped[str | None] = mapped_column(String(16))
    reject_type: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    verdict_at: Mapped[datetime | None] = mapped_column(TS)
    event_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class LeverageRequest(Base):
    __tablename__ = "leverage_requests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[int] = mapped_column(BigInteger)
    trading_account_id: Mapped[int] = mapped_column(BigInteger)
    from_leverage: Mapped[int] = mapped_column(Integer)
    to_leverage: Mapped[int] = mapped_column(Integer)
    cap: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    auto_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    applied_at: Mapped[datetime | None] = mapped_column(TS)
