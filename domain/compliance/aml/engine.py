"""Evaluating scenarios: every aggregate of every scenario evaluated together is one FILTER column of
one statement over the client's payments (and one over their deals) before the event, read through
the index on (user_id, created_at); the rules then run in Python on that one row.

The statement serves the inline decision (the event's own payment: `p.id = $1`). The test run
(domain/compliance/aml/test_runs.py) scores a period's payments with the same rules on the same
values, keeping the payments' and deals' aggregates as sliding windows over each client's history
(windows.py) instead of one statement per payment; tests/compliance/test_aml_test_run_parity.py
holds the two to the same decisions (statuses as they are now: a payment's history reads today's
statuses).

Events other than payments (transfers, exchanges, trade batches, profile changes, sign-ins from a new
country) are the same statement over an anchor row built from the event's parameters
(`EVENT_ANCHOR`); the schedule's is every active client in batches (`CLIENTS_ANCHOR`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.compliance import matching
from domain.compliance.aml.rules import Agg, Compiled, answer_column, compile_document
from domain.compliance.errors import HeldForReview
from domain.payments.config import HIGH_RISK_COUNTRIES
from domain.shared.actor import Actor
from domain.shared.db import Reader, driver

OUTCOME_RANK = {"allow": 0, "review": 1, "block": 2, "decline": 3}
# How long a case may wait, by the worst outcome among its alerts.
SLA_S = {"review": 5 * 86400, "block": 86400, "decline": 86400}

_COMPILED: dict[int, Compiled] = {}


def compiled(version_id: int, document: Any) -> Compiled:
    """Committed versions never change, so their compiled form is kept per process."""
    found = _COMPILED.get(version_id)
    if found is None:
        if isinstance(document, str):
            document = orjson.loads(document)
        found = _COMPILED[version_id] = compile_document(document)
    return found


@dataclass(frozen=True)
class Version:
    scenario_id: int
    version_id: int
    team: str
    program: Compiled


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(_lit(v) for v in values)})" if values else "false"


@dataclass
class Statement:
    """One evaluation statement for a set of versions: `sql` selects the event's fields, then one
    column per distinct aggregate (`columns[i]` is aggregate i of `aggs`)."""

    sql: str
    aggs: list[Agg]
    positions: dict[tuple[Any, ...], int]
    _columns: dict[int, list[str]] = field(default_factory=dict)

    def columns_for(self, program: Compiled) -> list[str]:
        """The result columns of `program`'s aggregates, in its order (worked out once per program)."""
        found = self._columns.get(id(program))
        if found is None:
            found = self._columns[id(program)] = [f"a{self.positions[a.key]}" for a in program.aggs]
        return found


# The payment method's largest amount for the event (the country's own row before the default '*').
METHOD_MAX = ("(SELECT m.max_amount FROM payment_methods m WHERE m.code = p.method_code AND m.currency = p.currency "
              "AND m.country IN ('*', coalesce(p.country, '*')) ORDER BY (m.country = '*') LIMIT 1)")


def _transfer_agg(a: Agg) -> str:
    conds = [f"t.created_at > p.created_at - interval '{a.window_s} seconds'"]
    conds += [f"t.direction = {_lit(v)}" for k, v in a.where if k == "direction"]
    where = " AND ".join(conds)
    if a.fn == "count":
        return f"count(*) FILTER (WHERE {where})"
    if a.fn == "count_distinct":
        return f"count(DISTINCT t.{a.of}) FILTER (WHERE {where})"
    if a.fn == "sum":
        return f"coalesce(sum(t.{a.of}) FILTER (WHERE {where}), 0)"
    return f"{a.fn}(t.{a.of}) FILTER (WHERE {where})"


def payment_filter(a: Agg, lists: dict[str, frozenset[str]]) -> list[str]:
    """The conditions of a payments aggregate's filter on the history row `h` alone (the test run
    evaluates them in its history query: windows.py)."""
    conds = []
    for key, value in a.where:
        if key == "direction":
            conds.append(f"h.direction = {_lit(value)}")
        elif key in ("status", "method_kind"):
            conds.append(_in(f"h.{key}", value))
        elif key == "country_in_list":
            conds.append(_in("h.country", sorted(lists.get(value, frozenset()))))
        elif key == "amount_gte":
            conds.append(f"h.amount >= {Decimal(value)}")
        elif key == "amount_lt":
            conds.append(f"h.amount < {Decimal(value)}")
    return conds


def payment_money(a: Agg) -> bool:
    """Amounts compare within the event's currency."""
    return a.of == "amount" or any(k in ("amount_gte", "amount_lt", "amount_gte_method_max_share") for k, _ in a.where)


def _payment_agg(a: Agg, lists: dict[str, frozenset[str]]) -> str:
    conds = [f"h.created_at > p.created_at - interval '{a.window_s} seconds'", *payment_filter(a, lists)]
    money = payment_money(a)
    for key, value in a.where:
        if key == "same_method":
            conds.append("h.method_code = p.method_code")
        elif key == "amount_gte_method_max_share":
            conds.append(f"h.amount >= {Decimal(value)} * {METHOD_MAX}")
    if money:  # amounts compare within the event's currency
        conds.append("h.currency = p.currency")
    where = " AND ".join(conds)
    if a.fn == "count":
        return f"count(*) FILTER (WHERE {where})"
    if a.fn == "count_distinct":
        return f"count(DISTINCT h.{a.of}) FILTER (WHERE {where})"
    if a.fn == "sum":
        return f"coalesce(sum(h.{a.of}) FILTER (WHERE {where}), 0)"
    return f"{a.fn}(h.{a.of}) FILTER (WHERE {where})"


def _deal_agg(a: Agg) -> str:
    where = f"d.time > p.created_at - interval '{a.window_s} seconds'"
    if a.fn == "count":
        return f"count(*) FILTER (WHERE {where})"
    if a.fn == "count_distinct":
        return f"count(DISTINCT d.{a.of}) FILTER (WHERE {where})"
    if a.fn == "sum":
        return f"coalesce(sum(d.{a.of}) FILTER (WHERE {where}), 0)"
    return f"{a.fn}(d.{a.of}) FILTER (WHERE {where})"


def _mirror_agg(a: Agg) -> str:
    where = f"r.time > p.created_at - interval '{a.window_s} seconds'"
    if a.fn == "max":  # the most deals one counterpart mirrored inside the window
        return (f"(SELECT max(c.n) FROM (SELECT count(DISTINCT (x.server_id, x.deal_id)) AS n FROM rows x "  # noqa: S608
                f"WHERE x.time > p.created_at - interval '{a.window_s} seconds' GROUP BY x.counterpart) c)")
    if a.fn == "count":  # one row per (deal, counterpart): count the deals
        return f"count(DISTINCT (r.server_id, r.deal_id)) FILTER (WHERE {where})"
    return f"count(DISTINCT r.{'counterpart' if a.of == 'counterpart' else 'symbol'}) FILTER (WHERE {where})"


def _links_agg(a: Agg) -> str:
    where = dict(a.where)
    conds = [f"x.at > p.created_at - interval '{a.window_s} seconds'", _in("x.link", where["link"])]
    if where["same_ib"]:
        conds.append("x.same_ib")
    cond = " AND ".join(conds)
    if a.fn == "count":
        return f"count(*) FILTER (WHERE {cond})"
    return f"count(DISTINCT x.other) FILTER (WHERE {cond})"


# Sharing: another client's session from the same IP or device, or payment with the same instrument
# or payer, both inside the widest window (indexes of migration 0044).
_LINK_SQL = {
    "ip": "SELECT 'ip' AS link, o.user_id AS other, greatest(s.created_at, o.created_at) AS at "
          "FROM auth_sessions s JOIN auth_sessions o ON o.ip = s.ip AND o.user_id <> s.user_id "
          "WHERE s.user_id = p.user_id AND s.ip IS NOT NULL AND {s_in} AND {o_in}",
    "device": "SELECT 'device' AS link, o.user_id AS other, greatest(s.created_at, o.created_at) AS at "
              "FROM auth_sessions s JOIN auth_sessions o ON o.device = s.device AND o.user_id <> s.user_id "
              "WHERE s.user_id = p.user_id AND s.device <> '' AND {s_in} AND {o_in}",
    "instrument": "SELECT 'instrument' AS link, o.user_id AS other, greatest(s.created_at, o.created_at) AS at "
                  "FROM payments s JOIN payments o ON o.instrument = s.instrument AND o.user_id <> s.user_id "
                  "WHERE s.user_id = p.user_id AND s.instrument IS NOT NULL AND {s_in} AND {o_in}",
    "payer": "SELECT 'payer' AS link, o.user_id AS other, greatest(s.created_at, o.created_at) AS at "
             "FROM payments s JOIN payments o ON o.payer_name = s.payer_name AND o.user_id <> s.user_id "
             "WHERE s.user_id = p.user_id AND s.payer_name IS NOT NULL AND {s_in} AND {o_in}",
}
_SAME_IB = ("EXISTS (SELECT 1 FROM ib_client_attributions a1 JOIN ib_client_attributions a2 ON a2.ib_id = a1.ib_id "
            "AND a2.valid_to IS NULL WHERE a1.client_id = p.user_id AND a1.valid_to IS NULL "
            "AND a2.client_id = y.other)")


def _links_join(aggs: list[tuple[int, Agg]]) -> str:
    widest = max(a.window_s for _, a in aggs)
    kinds = sorted({k for _, a in aggs for k in dict(a.where)["link"]})

    def within(alias: str) -> str:
        return (f"{alias}.created_at <= p.created_at AND "
                f"{alias}.created_at > p.created_at - interval '{widest} seconds'")

    union = " UNION ALL ".join(_LINK_SQL[k].format(s_in=within("s"), o_in=within("o")) for k in kinds)
    same_ib = _SAME_IB if any(dict(a.where)["same_ib"] for _, a in aggs) else "false"
    cols = ", ".join(f"{_links_agg(a)} AS a{i}" for i, a in aggs)
    return (f"LEFT JOIN LATERAL (SELECT {cols} FROM (SELECT y.*, {same_ib} AS same_ib "  # noqa: S608 - checked nodes
            f"FROM ({union}) y) x) la ON true")


def _mirror_join(within: int, aggs: list[tuple[int, Agg]], n: int) -> str:
    """One row per (deal of the client, other client who opened the same symbol and side within
    `within` seconds); `max` of counterpart_deals groups those rows by counterpart first."""
    widest = max(a.window_s for _, a in aggs)
    rows = ("SELECT d.server_id, d.deal_id, d.time, d.symbol, m.counterpart "  # noqa: S608 - checked nodes
            "FROM trading_accounts ta JOIN trading_deals d ON d.server_id = ta.server_id AND d.login = ta.login "
            "JOIN LATERAL (SELECT DISTINCT oa.user_id AS counterpart FROM trading_deals o "
            "JOIN trading_accounts oa ON oa.server_id = o.server_id AND oa.login = o.login "
            "WHERE o.symbol = d.symbol AND o.entry = 0 AND o.action = d.action "
            f"AND o.time BETWEEN d.time - interval '{within} seconds' AND d.time + interval '{within} seconds' "
            "AND oa.user_id <> ta.user_id) m ON true "
            "WHERE ta.user_id = p.user_id AND d.entry = 0 AND d.action IN (0, 1) AND d.time <= p.created_at "
            f"AND d.time > p.created_at - interval '{widest} seconds'")
    cols = ", ".join(f"{_mirror_agg(a)} AS a{i}" for i, a in aggs)
    return f"LEFT JOIN LATERAL (WITH rows AS MATERIALIZED ({rows}) SELECT {cols} FROM rows r) ma{n} ON true"  # noqa: S608


EVENT_COLUMNS = (
    "p.id, p.user_id, p.direction, p.amount, p.currency, p.country, p.card_bin_country, p.method_kind, "
    "p.method_code, p.payer_name, p.instrument, p.created_at, c.country AS client_country, "
    "c.risk_level AS client_risk_level, "
    "extract(epoch FROM p.created_at - coalesce(c.created_at, u.created_at))::numeric / 86400 AS client_age_days, "
    "coalesce(nullif(trim(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')), ''), u.display_name) "
    "AS client_name")


PAYMENT_ANCHOR = "payments p"
_NO_PAYMENT = ("NULL::text AS card_bin_country, NULL::text AS method_kind, NULL::text AS method_code, "
               "NULL::text AS payer_name, NULL::text AS instrument, 9223372036854775807::bigint AS id")
# One event that is not a payment: $1 user, $2 when, $3 amount, $4 currency, $5 country, $6 direction.
EVENT_ANCHOR = ("(SELECT $1::bigint AS user_id, $2::timestamptz AS created_at, $3::numeric AS amount, "
                f"$4::text AS currency, $5::text AS country, $6::text AS direction, {_NO_PAYMENT}) p")
# The schedule: active clients after id $2, $3 at a time, evaluated as of $1.
CLIENTS_ANCHOR = ("(SELECT u0.id AS user_id, $1::timestamptz AS created_at, NULL::numeric AS amount, "  # noqa: S608
                  f"NULL::text AS currency, NULL::text AS country, NULL::text AS direction, {_NO_PAYMENT} "
                  "FROM users u0 WHERE u0.is_client AND u0.status = 'active' AND u0.id > $2 "
                  "ORDER BY u0.id LIMIT $3) p")


def statement(programs: Sequence[Compiled], lists: dict[str, frozenset[str]], where: str,
              anchor: str = PAYMENT_ANCHOR, *, streamed: bool = False) -> Statement:
    """`streamed`: the payments' and deals' aggregates and days_since_last_payment are left out (the
    test run keeps them as sliding windows over the client's history: domain/compliance/aml/windows.py)."""
    aggs: list[Agg] = []
    positions: dict[tuple[Any, ...], int] = {}
    for program in programs:
        for a in program.aggs:
            if a.key not in positions:
                positions[a.key] = len(aggs)
                aggs.append(a)
    fields: set[str] = set().union(*(p.fields for p in programs)) if programs else set()
    cols = [EVENT_COLUMNS]
    joins = [f"FROM {anchor} JOIN users u ON u.id = p.user_id LEFT JOIN clients c ON c.user_id = p.user_id"]
    for question in sorted(set().union(*(p.answers for p in programs)) if programs else ()):
        cols.append(f"(SELECT r.answers ->> {_lit(question)} FROM questionnaire_responses r "  # noqa: S608
                    f"WHERE r.client_id = c.id ORDER BY r.id DESC LIMIT 1) AS \"{answer_column(question)}\"")
    if "days_since_last_payment" in fields and not streamed:
        cols.append("(SELECT extract(epoch FROM p.created_at - h.created_at)::numeric / 86400 FROM payments h "
                    "WHERE h.user_id = p.user_id AND (h.created_at, h.id) < (p.created_at, p.id) "
                    "ORDER BY h.created_at DESC, h.id DESC LIMIT 1) AS days_since_last_payment")
    pay = [(i, a) for i, a in enumerate(aggs) if a.source == "payments" and not streamed]
    deal = [(i, a) for i, a in enumerate(aggs) if a.source == "deals" and not streamed]
    if pay:
        widest = max(a.window_s for _, a in pay)
        cols.extend(f"pa.a{i}" for i, _ in pay)
        joins.append(
            f"LEFT JOIN LATERAL (SELECT {', '.join(f'{_payment_agg(a, lists)} AS a{i}' for i, a in pay)} "  # noqa: S608 - compiled from checked nodes
            "FROM payments h WHERE h.user_id = p.user_id AND h.created_at <= p.created_at "
            f"AND h.created_at > p.created_at - interval '{widest} seconds' AND h.id <> p.id) pa ON true")
    if deal:
        widest = max(a.window_s for _, a in deal)
        cols.extend(f"da.a{i}" for i, _ in deal)
        joins.append(
            f"LEFT JOIN LATERAL (SELECT {', '.join(f'{_deal_agg(a)} AS a{i}' for i, a in deal)} "  # noqa: S608 - compiled from checked nodes
            "FROM trading_accounts ta JOIN trading_deals d ON d.server_id = ta.server_id AND d.login = ta.login "
            "WHERE ta.user_id = p.user_id AND d.time <= p.created_at "
            f"AND d.time > p.created_at - interval '{widest} seconds') da ON true")
    if "method_max_amount" in fields or (streamed and any(
            k == "amount_gte_method_max_share" for a in aggs if a.source == "payments" for k, _ in a.where)):
        cols.append(f"{METHOD_MAX} AS method_max_amount")
    moves = [(i, a) for i, a in enumerate(aggs) if a.source == "transfers"]
    if moves:
        widest = max(a.window_s for _, a in moves)
        cols.extend(f"tr.a{i}" for i, _ in moves)
        joins.append(
            f"LEFT JOIN LATERAL (SELECT {', '.join(f'{_transfer_agg(a)} AS a{i}' for i, a in moves)} "  # noqa: S608
            "FROM ledger_transfers t WHERE t.user_id = p.user_id AND t.status = 'done' "
            f"AND t.created_at <= p.created_at AND t.created_at > p.created_at - interval '{widest} seconds') "
            "tr ON true")
    mirror: dict[int, list[tuple[int, Agg]]] = {}
    for i, a in enumerate(aggs):
        if a.source == "mirror_deals":
            mirror.setdefault(int(dict(a.where)["within_seconds"]), []).append((i, a))
    for n, (within, group) in enumerate(sorted(mirror.items())):
        cols.extend(f"ma{n}.a{i}" for i, _ in group)
        joins.append(_mirror_join(within, group, n))
    links = [(i, a) for i, a in enumerate(aggs) if a.source == "links"]
    if links:
        cols.extend(f"la.a{i}" for i, _ in links)
        joins.append(_links_join(links))
    sql = f"SELECT {', '.join(cols)} {' '.join(joins)} WHERE {where}"
    return Statement(sql, aggs, positions)


async def load_lists(session: Reader, names: set[str]) -> dict[str, frozenset[str]]:
    found: dict[str, frozenset[str]] = {}
    if "high_risk_countries" in names:
        found["high_risk_countries"] = frozenset(HIGH_RISK_COUNTRIES)
    custom = sorted(names - set(found))
    if custom:
        conn = await driver(session)
        for r in await conn.fetch("SELECT name, entries FROM aml_lists WHERE name = ANY($1::text[])", custom):
            found[r["name"]] = frozenset(e.upper() for e in r["entries"])
    for n in names:
        found.setdefault(n, frozenset())  # a list nobody has filled yet holds nothing
    return found


@functools.lru_cache(maxsize=65536)
def name_similarity(payer: str | None, client: str | None) -> float | None:
    """How alike the payer's name is to the client's, by the screening matcher (None without a payer)."""
    if not payer or not client:
        return None
    index = matching.MatchIndex.build([matching.Entity("client", client, (client,))])
    found = index.search(matching.Query(payer), threshold=0.0, limit=1)
    return found[0].score if found else 0.0


@dataclass(frozen=True)
class Scored:
    score: Decimal
    outcome: str
    explain: list[dict[str, Any]]


def environment(row: Any, stmt: Statement, program: Compiled, lists: dict[str, frozenset[str]],
                name_score: float | None) -> dict[str, Any]:
    columns = stmt.columns_for(program)
    return {"row": row, "aggs": [row[c] for c in columns], "lists": lists, "name_score": name_score}


def score(program: Compiled, env: dict[str, Any], *, explain: bool = True) -> Scored:
    total = Decimal(0)
    if not explain:  # the test run's path: no explanation to build, millions of calls
        for rule in program.rules:
            if rule.when(env):
                total += rule.score
        return Scored(total, program.outcome(total), [])
    shown: list[dict[str, Any]] = []
    for rule in program.rules:
        hit = bool(rule.when(env))
        if hit:
            total += rule.score
        if explain:
            shown.append({"rule": rule.name, "hit": hit, "score": str(rule.score if hit else 0),
                          "values": {path: _shown(fn(env)) for path, fn in rule.values}})
    return Scored(total, program.outcome(total), shown)


def _shown(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float):
        return str(round(value, 4))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    return str(value)


# --- inline ----------------------------------------------------------------------------------------------


async def live_versions(session: Reader, trigger: str) -> list[Version]:
    conn = await driver(session)
    rows = await conn.fetch(
        "SELECT s.id AS scenario_id, s.team, v.id AS version_id, v.document::text AS document "
        "FROM aml_scenarios s JOIN aml_scenario_versions v ON v.id = s.live_version_id "
        "WHERE $1 = ANY(v.triggers) ORDER BY s.id", trigger)
    return [Version(r["scenario_id"], r["version_id"], r["team"], compiled(r["version_id"], r["document"]))
            for r in rows]


@dataclass(frozen=True)
class Verdict:
    outcome: str  # the worst over the scenarios
    decision_ids: list[int]  # decisions whose outcome is block or decline (the ones a hold attaches to)
    case_ids: list[int]


ALLOWED = Verdict("allow", [], [])


async def decide(session: AsyncSession, actor: Actor, *, payment_id: int, trigger: str) -> Verdict:
    """Evaluate every live scenario for `trigger` on the payment; store each decision with its
    explanation; alerts open or join the client's case in the scenario's team."""
    versions = await live_versions(session, trigger)
    if not versions:
        return ALLOWED
    programs = [v.program for v in versions]
    lists = await load_lists(session, set().union(*(p.lists for p in programs)))
    stmt = statement(programs, lists, "p.id = $1")
    conn = await driver(session)
    row = await conn.fetchrow(stmt.sql, payment_id)
    if row is None:
        return ALLOWED
    uses_name = any(p.uses_name for p in programs)
    name_score = name_similarity(row["payer_name"], row["client_name"]) if uses_name else None
    event = {k: _shown(row[k]) for k in ("direction", "amount", "currency", "country", "card_bin_country",
                                         "method_kind", "method_code", "payer_name")}
    return await _record(session, actor, versions, stmt, row, lists, name_score, trigger=trigger,
                         payment_id=payment_id, subject=f"payment:{payment_id}", event=event)


async def decide_event(session: AsyncSession, actor: Actor, *, trigger: str, user_id: int, subject: str,
                       event: dict[str, Any], at: datetime | None = None) -> Verdict:
    """Evaluate every live scenario for `trigger` on an event that is not a payment (`subject` names
    it: "transfer:12"); `event` holds amount, currency, country, direction and the trigger's own
    fields (rules.FIELDS). Decisions, cases and audit as for payments."""
    versions = await live_versions(session, trigger)
    if not versions:
        return ALLOWED
    programs = [v.program for v in versions]
    lists = await load_lists(session, set().union(*(p.lists for p in programs)))
    stmt = statement(programs, lists, "true", anchor=EVENT_ANCHOR)
    conn = await driver(session)
    amount = event.get("amount")
    record = await conn.fetchrow(
        stmt.sql, user_id, at or await conn.fetchval("SELECT now()"),
        Decimal(amount) if amount is not None else None, event.get("currency"), event.get("country"),
        event.get("direction"))
    if record is None:
        return ALLOWED
    row = {**event, **dict(record)}
    shown = {k: _shown(v) for k, v in event.items()}
    return await _record(session, actor, versions, stmt, row, lists, None, trigger=trigger, payment_id=None,
                         subject=subject, event=shown)


async def _record(session: AsyncSession, actor: Actor, versions: list[Version], stmt: Statement, row: Any,
                  lists: dict[str, frozenset[str]], name_score: float | None, *, trigger: str,
                  payment_id: int | None, subject: str, event: dict[str, Any], alerts_only: bool = False) -> Verdict:
    conn = await driver(session)
    worst, held, cases = "allow", [], []
    for v in versions:
        scored = score(v.program, environment(row, stmt, v.program, lists, name_score))
        if alerts_only and scored.outcome == "allow":
            continue
        if trigger == "schedule" and await _seen_before(conn, row["user_id"], v.version_id, scored.explain):
            continue  # a pattern that persists is one alert, not one a night
        case_id = None
        if scored.outcome != "allow":
            case_id = await open_or_join_case(session, user_id=row["user_id"], team=v.team, outcome=scored.outcome)
            cases.append(case_id)
        decision_id = await conn.fetchval(
            "INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, payment_id, subject, event, score, "
            "outcome, explain, case_id) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb, $11) "
            "RETURNING id",
            v.scenario_id, v.version_id, row["user_id"], trigger, payment_id, subject, orjson.dumps(event).decode(),
            scored.score, scored.outcome, orjson.dumps(scored.explain).decode(), case_id)
        if scored.outcome != "allow":
            await audit.record(session, actor, action="aml.alert", entity_type="aml_decision", entity_id=decision_id,
                               after={"scenario_id": v.scenario_id, "version_id": v.version_id,
                                      "payment_id": payment_id, "subject": subject, "score": str(scored.score),
                                      "outcome": scored.outcome, "case_id": case_id}, category="compliance")
        if scored.outcome in ("block", "decline"):
            held.append(int(decision_id))
        if OUTCOME_RANK[scored.outcome] > OUTCOME_RANK[worst]:
            worst = scored.outcome
    return Verdict(worst, held, cases)


def _evidence(explain: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """What an alert rests on: the rules that hit, with the values they read."""
    return sorted((str(e["rule"]), orjson.dumps(e.get("values"), option=orjson.OPT_SORT_KEYS))
                  for e in explain if e.get("hit"))


async def _seen_before(conn: Any, user_id: int, version_id: int, explain: list[dict[str, Any]]) -> bool:
    """The client's latest scheduled alert by this scenario version rests on the same evidence (the same
    rules hit on the same values: nothing new in the window), and its case is still open or was closed
    on exactly this evidence. The nightly scan then raises nothing new: the open case already holds the
    alert, and a closed one was decided on it. New evidence (another deposit, a value that moved) raises
    a new alert, which joins the client's open case or opens one."""
    last = await conn.fetchval(
        "SELECT explain::text FROM aml_decisions WHERE user_id = $1 AND trigger = 'schedule' AND version_id = $2 "
        "AND outcome <> 'allow' ORDER BY created_at DESC, id DESC LIMIT 1", user_id, version_id)
    return last is not None and _evidence(orjson.loads(last)) == _evidence(explain)


@dataclass(frozen=True)
class ClientScore:
    user_id: int
    scenario_id: int
    scored: Scored


async def _clients(session: Reader, versions: list[Version], *, at: datetime, after_user_id: int,
                   limit: int) -> tuple[Statement, dict[str, frozenset[str]], list[Any]]:
    programs = [v.program for v in versions]
    lists = await load_lists(session, set().union(*(p.lists for p in programs)))
    stmt = statement(programs, lists, "true ORDER BY p.user_id", anchor=CLIENTS_ANCHOR)
    conn = await driver(session)
    await conn.execute("SET LOCAL jit = off")
    return stmt, lists, list(await conn.fetch(stmt.sql, at, after_user_id, limit))


async def score_clients(session: Reader, versions: list[Version], *, at: datetime, after_user_id: int,
                        limit: int) -> tuple[list[ClientScore], int | None]:
    """One batch of the schedule, read only (test runs, the bench): active clients after
    `after_user_id` scored as of `at` by each version; and the next cursor (None at the end)."""
    stmt, lists, rows = await _clients(session, versions, at=at, after_user_id=after_user_id, limit=limit)
    out = [ClientScore(row["user_id"], v.scenario_id, score(v.program, environment(row, stmt, v.program, lists, None),
                                                            explain=False))
           for row in rows for v in versions]
    return out, (int(rows[-1]["user_id"]) if len(rows) == limit else None)


async def decide_schedule_batch(session: AsyncSession, actor: Actor, *, at: datetime, after_user_id: int,
                                limit: int) -> tuple[int, int, int | None]:
    """The live `schedule` scenarios over one batch of active clients: only alerts are stored (a
    nightly `allow` per client and scenario would be noise). Returns (clients, alerts, next cursor)."""
    versions = await live_versions(session, "schedule")
    if not versions:
        return 0, 0, None
    stmt, lists, rows = await _clients(session, versions, at=at, after_user_id=after_user_id, limit=limit)
    alerts = 0
    for row in rows:
        verdict = await _record(session, actor, versions, stmt, row, lists, None, trigger="schedule", payment_id=None,
                                subject=f"schedule:{at.date().isoformat()}", event={"at": at.isoformat()},
                                alerts_only=True)
        alerts += len(verdict.case_ids)
    return len(rows), alerts, (int(rows[-1]["user_id"]) if len(rows) == limit else None)


async def attach_hold(session: AsyncSession, decision_ids: list[int], hold_id: int | None, status: str) -> None:
    """Record the ledger hold that keeps the money while the decisions are reviewed (`held`), or that
    the payment was declined at once (`declined`)."""
    conn = await driver(session)
    await conn.execute("UPDATE aml_decisions SET hold_id = $2, hold_status = $3 WHERE id = ANY($1::bigint[])",
                       decision_ids, hold_id, status)


async def require_not_held(session: AsyncSession, payment_id: int) -> None:
    """Refuse to go on with a payment a monitoring decision holds for review (AML_HOLD)."""
    conn = await driver(session)
    if await conn.fetchval("SELECT 1 FROM aml_decisions WHERE payment_id = $1 AND hold_status = 'held' LIMIT 1",
                           payment_id):
        raise HeldForReview("transaction monitoring holds this payment for review", field="id")


async def open_or_join_case(session: AsyncSession, *, user_id: int, team: str, outcome: str) -> int:
    conn = await driver(session)
    return int(await conn.fetchval(
        "INSERT INTO aml_cases (user_id, team, alert_count, sla_due_at) "
        "VALUES ($1, $2, 1, now() + make_interval(secs => $3)) "
        "ON CONFLICT (user_id, team) WHERE status <> 'closed' DO UPDATE SET alert_count = aml_cases.alert_count + 1, "
        "sla_due_at = least(aml_cases.sla_due_at, EXCLUDED.sla_due_at), updated_at = now() RETURNING id",
        user_id, team, float(SLA_S[outcome])))
