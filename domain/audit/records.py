"""Records on request: what a regulator asks a broker for, one kind at a time, filtered by client, IB
and period, listed (keyset pages) and exported (domain/audit/record_exports.py) from the same SQL.

Each kind reads the tables that hold its facts, not the audit trail's free-form JSON, so every column
has one meaning: commission lines with their plan version and formula (the IB engine's explanation),
IB relationships over time (parent edges, client attributions, plan assignments and the application
decisions), balance adjustments (who asked, who approved, why), leverage changes (requested, cap,
decision) and communications. Every row has `occurred_at` and `rid`, an integer unique within its
kind (the table's id times the number of tables the kind unions, plus the table's place), which
together are the sort key.

The IB filter means the IB's own rows for IB kinds (lines it earned; edges where it is the IB or the
parent; its attributions and plans) and, for client kinds, the rows of clients attributed to it when
the row happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.access import staff_sees_owner
from domain.ib.errors import IbNotFound
from domain.shared.actor import Actor
from domain.shared.errors import DomainError, NotFound, ValidationFailed
from domain.shared.money import at_scale
from domain.shared.pagination import Page, PageRequest, sql_page


class RecordKind(StrEnum):
    COMMISSION = "commission"
    IB_RELATIONSHIP = "ib_relationship"
    BALANCE_ADJUSTMENT = "balance_adjustment"
    LEVERAGE_CHANGE = "leverage_change"
    COMMUNICATION = "communication"


class RecordClientNotFound(NotFound):
    code = "RECORD_CLIENT_NOT_FOUND"


@dataclass(frozen=True)
class RecordFilter:
    client_id: int | None = None  # the client's id (clients.id), as every clientId argument
    ib_id: int | None = None  # the IB's user id
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Resolved:
    """A checked filter; the client as its user id, which is what the IB and ledger tables hold."""

    client_user_id: int | None
    ib_id: int | None
    occurred_from: datetime | None
    occurred_to: datetime | None


@dataclass(frozen=True)
class KindSpec:
    source: str  # a SELECT giving occurred_at, rid, client_user_id, ib_id and the kind's columns
    columns: tuple[str, ...]  # exported in this order (after occurred_at)
    ib_rows: str  # the IB filter's condition on r (:ib)


_CLIENT_OF_IB = ("EXISTS (SELECT 1 FROM ib_client_attributions x WHERE x.client_id = r.client_user_id "
                 "AND x.ib_id = :ib AND x.valid_from <= r.occurred_at "
                 "AND (x.valid_to IS NULL OR x.valid_to > r.occurred_at))")

_COMMISSION = KindSpec(
    source="""
        SELECT l.deal_time AS occurred_at, l.id AS rid, l.client_id AS client_user_id, l.ib_id, l.id AS line_id,
               l.kind, l.source, l.level, l.direct_ib_id, l.server_id, l.deal_id, l.login, l.symbol, l.volume,
               l.plan_id, p.name AS plan_name, l.plan_version_id, v.version AS plan_version, l.clause_no, l.clause_kind,
               l.formula, l.inputs::text AS inputs, l.quantity, l.rate, l.fx_rate, l.amount, l.currency, l.reason
        FROM ib_commission_lines l
        LEFT JOIN ib_plan_versions v ON v.id = l.plan_version_id
        LEFT JOIN ib_plans p ON p.id = l.plan_id""",
    columns=("line_id", "ib_id", "direct_ib_id", "level", "client_user_id", "kind", "source", "server_id", "deal_id",
             "login", "symbol", "volume", "plan_id", "plan_name", "plan_version_id", "plan_version", "clause_no",
             "clause_kind", "formula", "inputs", "quantity", "rate", "fx_rate", "amount", "currency", "reason"),
    ib_rows="r.ib_id = :ib",
)

# Four tables, so rid = id * 4 + place. A status event is an application decision from the audit trail
# (ib_partners keeps only the latest); its entity id is the IB's user id.
_IB_RELATIONSHIP = KindSpec(
    source="""
        SELECT e.valid_from AS occurred_at, e.id * 4 AS rid, NULL::bigint AS client_user_id, e.ib_id,
               'parent'::text AS record, e.parent_id, NULL::bigint AS plan_id, NULL::text AS plan_name,
               NULL::text AS status, e.valid_from, e.valid_to, e.reason, NULL::bigint AS by_user_id
        FROM ib_tree_edges e
        UNION ALL
        SELECT a.valid_from, a.id * 4 + 1, a.client_id, a.ib_id, 'client_attribution', NULL, NULL, NULL, a.source,
               a.valid_from, a.valid_to, a.reason, a.created_by
        FROM ib_client_attributions a
        UNION ALL
        SELECT s.valid_from, s.id * 4 + 2, NULL, s.ib_id, 'plan_assignment', NULL, s.plan_id, p.name, NULL,
               s.valid_from, s.valid_to, s.reason, s.created_by
        FROM ib_plan_assignments s JOIN ib_plans p ON p.id = s.plan_id
        UNION ALL
        SELECT ev.occurred_at, ev.id * 4 + 3, NULL, ev.entity_id::bigint, 'status',
               nullif(coalesce(ev.after->>'parent_id', ev.after->>'requested_parent_id'), '')::bigint, NULL, NULL,
               ev.after->>'status', ev.occurred_at, NULL, ev.reason, ev.actor_user_id
        FROM audit_events ev
        WHERE ev.category = 'ib_relationship' AND ev.entity_type = 'ib_partner'
          AND ev.action IN ('ib.applied', 'ib.approved', 'ib.rejected') AND ev.entity_id ~ '^[0-9]{1,18}$'""",
    columns=("record", "ib_id", "parent_id", "client_user_id", "plan_id", "plan_name", "status", "valid_from",
             "valid_to", "reason", "by_user_id"),
    ib_rows="(r.ib_id = :ib OR r.parent_id = :ib)",
)

# A request (any status; an approved one names its ledger entry) is rid = id * 2; an adjustment that
# posted at once (under the four-eyes threshold) is its ledger entry, rid = entry id * 2 + 1. The
# amount is as the client sees it: positive credits the wallet.
_BALANCE_ADJUSTMENT = KindSpec(
    source="""
        SELECT q.created_at AS occurred_at, q.id * 2 AS rid, w.owner_id AS client_user_id, NULL::bigint AS ib_id,
               q.id AS request_id, q.entry_id, q.wallet_id, q.amount, q.currency, q.status, q.requested_by,
               q.decided_by AS approved_by, q.decided_at, q.reason, q.decision_reason, q.allow_negative
        FROM balance_adjustment_requests q JOIN ledger_accounts w ON w.id = q.wallet_id
        UNION ALL
        SELECT e.created_at, e.id * 2 + 1, w.owner_id, NULL, NULL, e.id, w.id, -p.amount, p.currency, 'posted',
               CASE WHEN e.actor ~ '^staff:[0-9]{1,18}$' THEN split_part(e.actor, ':', 2)::bigint END,
               NULL, e.created_at, e.description, NULL, p.allow_negative
        FROM ledger_entries e
        JOIN ledger_postings p ON p.entry_id = e.id
        JOIN ledger_accounts w ON w.id = p.account_id AND w.purpose = 'client_wallet'
        WHERE e.ref_kind = 'adjustment' AND e.ref_id NOT LIKE 'adjustment-request:%'""",
    columns=("request_id", "entry_id", "client_user_id", "wallet_id", "amount", "currency", "status", "requested_by",
             "approved_by", "decided_at", "reason", "decision_reason", "allow_negative"),
    ib_rows=_CLIENT_OF_IB,
)

_LEVERAGE_CHANGE = KindSpec(
    source="""
        SELECT q.created_at AS occurred_at, q.id AS rid, k.user_id AS client_user_id, NULL::bigint AS ib_id,
               q.id AS request_id, q.trading_account_id, a.login, q.from_leverage,
               q.to_leverage AS requested_leverage, q.cap, q.status, q.auto_approved, q.decided_by, q.reason,
               q.error, q.updated_at AS decided_at, q.applied_at
        FROM leverage_requests q JOIN trading_accounts a ON a.id = q.trading_account_id
        JOIN clients k ON k.id = q.client_id""",
    columns=("request_id", "client_user_id", "trading_account_id", "login", "from_leverage", "requested_leverage",
             "cap", "status", "auto_approved", "decided_by", "reason", "error", "decided_at", "applied_at"),
    ib_rows=_CLIENT_OF_IB,
)

_COMMUNICATION = KindSpec(
    source="""
        SELECT c.created_at AS occurred_at, c.id AS rid, k.user_id AS client_user_id, NULL::bigint AS ib_id,
               c.id AS communication_id, c.kind, c.direction, c.subject, c.body, c.author_user_id
        FROM client_communications c JOIN clients k ON k.id = c.client_id""",
    columns=("communication_id", "client_user_id", "kind", "direction", "subject", "body", "author_user_id"),
    ib_rows=_CLIENT_OF_IB,
)

KINDS: dict[RecordKind, KindSpec] = {
    RecordKind.COMMISSION: _COMMISSION,
    RecordKind.IB_RELATIONSHIP: _IB_RELATIONSHIP,
    RecordKind.BALANCE_ADJUSTMENT: _BALANCE_ADJUSTMENT,
    RecordKind.LEVERAGE_CHANGE: _LEVERAGE_CHANGE,
    RecordKind.COMMUNICATION: _COMMUNICATION,
}


def shown_amount(amount: Decimal | None, code: str | None) -> Decimal | None:
    """An amount at its currency's scale (USD 3 -> 3.00); one finer than that (a commission line at its
    plan's scale) keeps every digit it has, never rounded."""
    if amount is None or code is None:
        return amount
    try:
        fixed = at_scale(amount, code)
    except DomainError:  # a currency this deployment does not configure: as stored, without trailing zeros
        fixed = None
    return fixed if fixed is not None and fixed == amount else Decimal(format(amount.normalize(), "f"))


def _plain(v: Decimal) -> Decimal:
    return Decimal(format(v.normalize(), "f"))


def export_cells(kind: RecordKind, row: Sequence[Any]) -> list[Any]:
    """A row of `export_sql` as written to a file: amounts as `shown_amount`, other decimals without
    trailing zeros."""
    out = list(row)
    amount_at, currency_at = _MONEY_COLUMNS[kind]
    for i, v in enumerate(out):
        if type(v) is Decimal:
            out[i] = shown_amount(v, out[currency_at]) if i == amount_at else _plain(v)
    return out


def kind_of(value: str) -> RecordKind:
    try:
        return RecordKind(value)
    except ValueError:
        raise ValidationFailed(f"{value!r} is not a record kind", field="kind") from None


def header(kind: RecordKind) -> tuple[str, ...]:
    return ("occurred_at", *KINDS[kind].columns)


# Per kind, where the amount and its currency sit in an exported row (-1: the kind has none).
_MONEY_COLUMNS: dict[RecordKind, tuple[int, int]] = {
    k: (header(k).index("amount"), header(k).index("currency")) if "amount" in header(k) else (-1, -1)
    for k in RecordKind
}


async def check_filter(session: AsyncSession, actor: Actor, flt: RecordFilter) -> Resolved:
    """A period is UTC instants with `to` after `from`; a client must be one the caller may see and an IB
    must exist (each refused with its own typed error, on its field)."""
    for name, when in (("from", flt.occurred_from), ("to", flt.occurred_to)):
        if when is not None and when.tzinfo is None:
            raise ValidationFailed("a period bound is a UTC instant (with its offset)", field=f"filter.{name}")
    if flt.occurred_from is not None and flt.occurred_to is not None and flt.occurred_to <= flt.occurred_from:
        raise ValidationFailed("`to` must be after `from`", field="filter.to")
    user_id: int | None = None
    if flt.client_id is not None:
        user_id = await session.scalar(text("SELECT user_id FROM clients WHERE id = :c"), {"c": flt.client_id})
        if user_id is None or not await staff_sees_owner(session, actor, user_id):
            raise RecordClientNotFound("client not found", field="filter.clientId")
    if flt.ib_id is not None and await session.scalar(
            text("SELECT 1 FROM ib_partners WHERE user_id = :i"), {"i": flt.ib_id}) is None:
        raise IbNotFound("no such IB", field="filter.ibId")
    return Resolved(user_id, flt.ib_id, flt.occurred_from, flt.occurred_to)


def conditions(kind: RecordKind, flt: Resolved) -> tuple[list[str], dict[str, Any]]:
    """The filter as constant SQL over `r` with bound parameters."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if flt.client_user_id is not None:
        where.append("r.client_user_id = :client")
        params["client"] = flt.client_user_id
    if flt.ib_id is not None:
        where.append(KINDS[kind].ib_rows)
        params["ib"] = flt.ib_id
    if flt.occurred_from is not None:
        where.append("r.occurred_at >= :t0")
        params["t0"] = flt.occurred_from
    if flt.occurred_to is not None:
        where.append("r.occurred_at < :t1")
        params["t1"] = flt.occurred_to
    return where, params


def source(kind: RecordKind) -> str:
    return f"({KINDS[kind].source}) r"


async def list_records(
    session: AsyncSession, actor: Actor, kind: RecordKind, flt: RecordFilter, page: PageRequest,
) -> Page[Any]:
    """One page of a kind's rows, newest first, keyset-paged on (occurred_at, rid)."""
    where, params = conditions(kind, await check_filter(session, actor, flt))
    return await sql_page(session, page, columns="r.*", source=source(kind), where=where, params=params,
                          key=("r.occurred_at", "r.rid"), descending=True, convert=lambda row: row)


def export_sql(kind: RecordKind, flt: Resolved) -> tuple[str, dict[str, Any]]:
    """The whole selection, oldest first, with the export's columns in header order."""
    where, params = conditions(kind, flt)
    cols = ", ".join(f"r.{c}" for c in header(kind))
    sql = (f"SELECT {cols} FROM {source(kind)} WHERE {' AND '.join(where) or 'true'} "  # noqa: S608 - constants only
           "ORDER BY r.occurred_at, r.rid")
    return sql, params

