"""The IB commission statement as a PDF (fpdf2): the same lines as the CSV, with totals per currency.

Uncompressed content streams: statements are small, and the text stays searchable by tools that
read the raw file (and by our tests).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from fpdf import FPDF
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ib.portal import Partner
from domain.ib.reports import MAX_CSV_ROWS, check_period

_COLUMNS = (("Time (UTC)", 38), ("Kind", 22), ("Lvl", 10), ("Client", 18), ("Symbol", 22), ("Lots", 20),
            ("Amount", 28), ("Cur", 14))


async def statement_pdf(session: AsyncSession, p: Partner, t0: datetime, t1: datetime, *, title: str) -> bytes:
    check_period(t0, t1)
    rows = (await session.execute(text(
        "SELECT deal_time, kind, level, CASE WHEN level <= :d THEN client_id END AS client_id, symbol, volume, "
        "amount, currency FROM ib_commission_lines WHERE ib_id = :ib AND deal_time >= :t0 AND deal_time < :t1 "
        "ORDER BY deal_time, id LIMIT :n"),
        {"ib": p.ib_id, "d": p.visible_depth, "t0": t0, "t1": t1, "n": MAX_CSV_ROWS})).all()
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_compression(False)
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    pdf.cell(0, 6, f"Period {t0.isoformat()} to {t1.isoformat()} (UTC), IB {p.ib_id}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 8)
    for name, width in _COLUMNS:
        pdf.cell(width, 6, name, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", size=8)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[r.currency] += Decimal(r.amount)
        values = (r.deal_time.strftime("%Y-%m-%d %H:%M:%S"), str(r.kind), str(r.level),
                  str(r.client_id) if r.client_id is not None else "hidden", r.symbol or "", f"{r.volume}",
                  f"{r.amount}", r.currency)
        for (_, width), value in zip(_COLUMNS, values, strict=True):
            pdf.cell(width, 5, value[:24], border=1)
        pdf.ln()
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    for currency, total in sorted(totals.items()):
        pdf.cell(0, 6, f"Total {currency}: {total}", new_x="LMARGIN", new_y="NEXT")
    if not rows:
        pdf.cell(0, 6, "No commission in this period.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
