"""The monthly client money return: a month of daily closes (runs, breaks, sign-offs written as the run and the
workflow leave them) in a past month and a currency code of this test's own, read back through GraphQL and the
CSV and XLSX downloads, against figures computed here from the same inputs."""

from __future__ import annotations

import csv
import io
import json
import secrets
import string
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import openpyxl  # type: ignore[import-untyped]
from sqlalchemy import text

from schema.node import global_id
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff

RETURN = """query($m: String!) { clientMoneyReturn(month: $m) { month currency monthEndClose requirement resource
  difference highestRequirement highestOn lowestRequirement lowestOn daysReconciled shortfallDays breaks
  shortfallBreaks resolvedBreaks openBreaks firstResolvedAt lastResolvedAt signedOffDays lastSignedOffAt
  lastSignedOffByStaffUserId } }"""
LINK = """mutation($m: String!, $f: ClientMoneyReturnFormat!) { clientMoneyReturnLink(month: $m, format: $f) {
  link { url } errors { code field } } }"""


def _line(currency: str, requirement: str, resource: str, close: Any) -> dict[str, Any]:
    """A client-money line as the run's section writes it into the summary."""
    diff = Decimal(resource) - Decimal(requirement)
    kind = "matched" if diff == 0 else ("shortfall" if diff < 0 else "excess")
    return {"currency": currency, "kind": kind, "closeDate": close.isoformat(), "scale": 2, "clients": 1,
            "negativeClients": 0, "walletBalances": requirement, "tradingEquity": "0.00", "negativeFloored": "0.00",
            "requirement": requirement, "bankBalances": resource, "pspBalances": "0.00", "resource": resource,
            "difference": f"{diff:.2f}"}


async def test_a_months_return_per_currency_matches_figures_computed_independently(
    http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    finance = await make_staff(http, session_factory, settings, ["finance"])
    reviewer = await make_staff(http, session_factory, settings, ["finance"])
    support = await make_staff(http, session_factory, settings, ["support"])
    year, mon = 1900 + secrets.randbelow(99), 1 + secrets.randbelow(12)
    month = f"{year:04d}-{mon:02d}"
    cur = "Z" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(5))
    first = datetime(year, mon, 1, tzinfo=UTC)

    def at(day: int, hour: int = 0) -> datetime:
        return first + timedelta(days=day - 1, hours=hour)

    # (cutoff, lines): a close's last cutoff is its result; the 15:00 run of day 1 is replaced by the midnight one
    def close(cutoff: datetime) -> Any:
        return (cutoff - timedelta(microseconds=1)).date()

    cutoffs = [at(1, 15), at(2), at(3), at(5), at(5) + timedelta(days=40)]
    runs = [
        (cutoffs[0], [_line(cur, "999.00", "0.00", close(cutoffs[0]))]),  # close day 1, superseded
        (cutoffs[1], [_line(cur, "100.00", "90.00", close(cutoffs[1]))]),  # close day 1: shortfall
        (cutoffs[2], [_line(cur, "300.00", "300.00", close(cutoffs[2]))]),  # close day 2
        (cutoffs[3], [_line(cur, "50.00", "80.00", close(cutoffs[3]))]),  # close day 4: excess
        (cutoffs[4], [_line(cur, "1.00", "1.00", close(cutoffs[4]))]),  # next month's close
    ]
    resolved_at = at(3, 9)
    async with session_factory() as s, s.begin():
        ids = []
        for cutoff, lines in runs:
            ids.append(int(await s.scalar(text(
                "INSERT INTO reconciliation_runs (cutoff, window_start, status, summary) VALUES (:c, :w, 'done', "
                "CAST(:s AS jsonb)) RETURNING id"),
                {"c": cutoff, "w": cutoff - timedelta(days=1),
                 "s": json.dumps({"sections": {}, "breaks": 0, "openBreaks": 0, "matched": 0, "clientMoney": lines})})))

        async def brk(run: int, kind: str, status: str, when: datetime | None) -> None:
            await s.execute(text(
                "INSERT INTO reconciliation_breaks (run_id, section, kind, key, currency, amount_diff, evidence, "
                "suggested_cause, status, explanation, resolved_by, resolved_at) VALUES (:r, 'client_money', :k, :c, "
                ":c, 0, '{}', 'x', :s, :x, :by, :at)"),
                {"r": run, "k": kind, "c": cur, "s": status, "x": "topped up" if status == "explained" else None,
                 "by": finance.user_id if when else None, "at": when})

        await brk(ids[0], "shortfall", "open", None)  # the superseded run's: not counted
        await brk(ids[1], "shortfall", "explained", resolved_at)
        await brk(ids[3], "excess", "open", None)
        for run, who, when in ((ids[1], reviewer.user_id, at(3, 10)), (ids[3], finance.user_id, at(5, 11))):
            await s.execute(text(
                "INSERT INTO client_money_signoffs (run_id, signed_by, signed_at, lines, open_breaks) "
                "VALUES (:r, :u, :t, '[]', 0)"), {"r": run, "u": who, "t": when})

    # Independently: one result per close date (the latest cutoff), then the month's figures
    closes: dict[Any, tuple[datetime, dict[str, Any]]] = {}
    for cutoff, lines in runs:
        day = close(cutoff)
        if (day.year, day.month) == (year, mon) and (day not in closes or closes[day][0] < cutoff):
            closes[day] = (cutoff, lines[0])
    ordered = sorted(closes.items())
    reqs = [(Decimal(line["requirement"]), day) for day, (_, line) in ordered]
    high = max(reqs, key=lambda r: (r[0], -r[1].toordinal()))
    low = min(reqs, key=lambda r: (r[0], r[1].toordinal()))
    end_day, (_, end) = ordered[-1]
    expected = {
        "month": month, "currency": cur, "monthEndClose": end_day.isoformat(), "requirement": end["requirement"],
        "resource": end["resource"], "difference": end["difference"], "highestRequirement": f"{high[0]:.2f}",
        "highestOn": high[1].isoformat(), "lowestRequirement": f"{low[0]:.2f}", "lowestOn": low[1].isoformat(),
        "daysReconciled": len(ordered), "shortfallDays": sum(1 for _, (_, x) in ordered if x["kind"] == "shortfall"),
        "breaks": 2, "shortfallBreaks": 1, "resolvedBreaks": 1, "openBreaks": 1,
        "firstResolvedAt": resolved_at.isoformat(), "lastResolvedAt": resolved_at.isoformat(), "signedOffDays": 2,
        "lastSignedOffAt": at(5, 11).isoformat(), "lastSignedOffByStaffUserId": global_id("StaffUser",
                                                                                          finance.user_id)}
    assert expected["highestRequirement"] == "300.00" and expected["lowestOn"] == at(4).date().isoformat()

    got = await finance.client(RETURN, {"m": month})
    assert got["data"]["clientMoneyReturn"] == [expected], got

    link = (await finance.client(LINK, {"m": month, "f": "CSV"}))["data"]["clientMoneyReturnLink"]
    xlink = (await finance.client(LINK, {"m": month, "f": "XLSX"}))["data"]["clientMoneyReturnLink"]
    prefix = settings.public_base_url.rstrip("/")
    assert link["link"]["url"].startswith(prefix + "/documents/client-money-return/")
    body = await http.get(link["link"]["url"][len(prefix):])
    book = await http.get(xlink["link"]["url"][len(prefix):])
    assert body.status_code == 200 and body.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(body.text)))
    assert (row["currency"], row["requirement"], row["resource"], row["highest_requirement"], row["highest_on"],
            row["lowest_requirement"], row["shortfall_days"], row["breaks"], row["resolved_breaks"],
            row["signed_off_days"], row["last_signed_off_by"]) == (
        cur, end["requirement"], end["resource"], "300.00", at(2).date().isoformat(), "50.00",
        "1", "2", "1", "2", str(finance.user_id))
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    header, values = [c.value for c in sheet[1]], [c.value for c in sheet[2]]
    assert dict(zip(header, values, strict=True))["requirement"] == end["requirement"]
    assert dict(zip(header, values, strict=True))["currency"] == cur

    # refusals: a bad month, a future one, and who may read it
    bad = await finance.client(LINK, {"m": "2026-13", "f": "CSV"})
    future = await finance.client(LINK, {"m": f"{datetime.now(UTC).year + 1}-01", "f": "CSV"})
    denied = await support.client(RETURN, {"m": month})
    client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    client_denied = await client(RETURN, {"m": month})
    client_link = await client(LINK, {"m": month, "f": "CSV"})
    denied_link = await support.client(LINK, {"m": month, "f": "CSV"})
    assert bad["data"]["clientMoneyReturnLink"]["errors"] == [
        {"code": "INVALID_CLIENT_MONEY_RETURN_PERIOD", "field": "month"}]
    assert future["data"]["clientMoneyReturnLink"]["errors"] == [
        {"code": "INVALID_CLIENT_MONEY_RETURN_PERIOD", "field": "month"}]
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert client_denied["errors"][0]["extensions"]["code"] == "FORBIDDEN" and cur not in json.dumps(client_denied)
    assert client_link["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert denied_link["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    tampered = link["link"]["url"][:-3] + ("AAA" if not link["link"]["url"].endswith("AAA") else "BBB")
    assert (await http.get(tampered[len(prefix):])).status_code in (404, 410)
    # a records-export route does not take this link's token (each signs under its own label)
    assert (await http.get("/documents/records/" + link["link"]["url"].rsplit("/", 1)[1])).status_code in (404, 410)
    async with session_factory() as s:
        audited = (await s.execute(text(
            "SELECT action, actor_user_id FROM audit_events WHERE entity_type = 'client_money_return' "
            "AND entity_id = :m ORDER BY id"), {"m": month})).all()
    assert [(a.action, a.actor_user_id) for a in audited] == [
        ("reconciliation.client_money_return.link_issued", finance.user_id),
        ("reconciliation.client_money_return.link_issued", finance.user_id),
        ("reconciliation.client_money_return.exported", finance.user_id),
        ("reconciliation.client_money_return.exported", finance.user_id)]
