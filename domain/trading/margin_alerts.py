"""Margin alerts: the margin level (equity / margin x 100) of a client's account, from the figures the trading
server reports as its deals are ingested (`live.states_of`), notified to the account's owner through the in-app
notifications (`sessions.notify`: stored, live, and whatever channels the user's preferences add) when it falls
below the server's warning level, and again below its stop-out level.

Once per crossing: an account is in an episode while its level stays below the warning level; the episode ends
when the level recovers to the warning level or above (or no margin is in use), and the next fall alerts again.
`margin_alerts` keeps one row per account, episode and kind, inserted with ON CONFLICT DO NOTHING after the
account's state row is upserted (which locks it): duplicate or concurrent ingestion of the same state notifies
once. A fall straight below the stop-out level sends the stop-out alone (its warning is marked sent)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity.sessions import notify
from domain.shared.actor import Actor
from domain.shared.db import driver
from domain.shared.money import at_scale, decimal_text, money_text
from domain.trading.errors import InvalidMarginLevels, TradingServerNotFound
from domain.trading.live import LiveState, OwnedAccount

DEFAULT_WARNING = Decimal(100)
DEFAULT_STOP_OUT = Decimal(50)
MAX_LEVEL = Decimal(10_000)
MARGIN_WARNING = "trading.margin_warning"  # notification kinds
MARGIN_STOP_OUT = "trading.margin_stop_out"
_KIND = {"warning": MARGIN_WARNING, "stop_out": MARGIN_STOP_OUT}
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Levels:
    warning: Decimal
    stop_out: Decimal


def margin_level(equity: Decimal, margin: Decimal) -> Decimal | None:
    """Percent, to two places; None when no margin is in use (no level, nothing to alert)."""
    if margin <= 0:
        return None
    return (equity / margin * 100).quantize(_CENT, rounding=ROUND_HALF_EVEN)


async def levels_of(session: AsyncSession, server_id: int) -> Levels:
    row = await (await driver(session)).fetchrow(
        "SELECT warning_level, stop_out_level FROM margin_alert_levels WHERE server_id = $1", server_id)
    return Levels(DEFAULT_WARNING, DEFAULT_STOP_OUT) if row is None else Levels(row[0], row[1])


def _audited(lv: Levels) -> dict[str, str]:
    return {"warning_level": decimal_text(lv.warning), "stop_out_level": decimal_text(lv.stop_out)}


def check_levels(warning: Decimal, stop_out: Decimal) -> None:
    for value, field in ((warning, "warningLevel"), (stop_out, "stopOutLevel")):
        if not value.is_finite() or value <= 0 or value > MAX_LEVEL:
            raise InvalidMarginLevels(f"a level is a percentage above 0 and at most {MAX_LEVEL}", field=field)
        if value != value.quantize(_CENT):
            raise InvalidMarginLevels("a level has at most two decimal places", field=field)
    if stop_out >= warning:
        raise InvalidMarginLevels("the stop-out level must be below the warning level", field="stopOutLevel")


async def set_levels(session: AsyncSession, actor: Actor, server_id: int, *, warning: Decimal,
                     stop_out: Decimal) -> Levels:
    """Staff set a server's levels (checked before anything is written; audited)."""
    check_levels(warning, stop_out)
    conn = await driver(session)
    if await conn.fetchval("SELECT 1 FROM trading_servers WHERE id = $1 FOR SHARE", server_id) is None:
        raise TradingServerNotFound("trading server not found", field="serverId")
    before = await levels_of(session, server_id)
    await conn.execute(
        "INSERT INTO margin_alert_levels (server_id, warning_level, stop_out_level) VALUES ($1, $2, $3) "
        "ON CONFLICT (server_id) DO UPDATE SET warning_level = EXCLUDED.warning_level, "
        "stop_out_level = EXCLUDED.stop_out_level, updated_at = now()", server_id, warning, stop_out)
    await record(session, actor, action="trading_server.margin_levels_set", entity_type="trading_server",
                 entity_id=server_id, before=_audited(before), after=_audited(Levels(warning, stop_out)))
    return Levels(warning, stop_out)


_REARM = """
UPDATE margin_alert_states SET episode = episode + 1, below = false, updated_at = now()
WHERE trading_account_id = ANY($1::bigint[]) AND below
"""

# The state rows are upserted first (each locked until commit), then the alerts of their current episode are
# inserted: a second ingestion of the same state waits for the first and finds its rows.
_ALERT = """
WITH x AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::numeric[]) AS x(account, kind, level)),
st AS (
    INSERT INTO margin_alert_states AS s (trading_account_id, below)
    SELECT DISTINCT account, true FROM x
    ON CONFLICT (trading_account_id) DO UPDATE SET below = true, updated_at = now()
    RETURNING s.trading_account_id, s.episode
)
INSERT INTO margin_alerts (trading_account_id, episode, kind, margin_level)
SELECT x.account, st.episode, x.kind, x.level FROM x JOIN st ON st.trading_account_id = x.account
ON CONFLICT DO NOTHING
RETURNING trading_account_id, kind
"""


async def evaluate(session: AsyncSession, server_id: int, accounts: Sequence[OwnedAccount],
                   states: Sequence[LiveState | None], levels: Levels | None = None) -> int:
    """Alert the owners of these accounts (one server's) whose level crossed a level, in the caller's
    transaction; returns how many notifications were raised. At most two statements when nothing crossed."""
    if not accounts:
        return 0
    lv = levels or await levels_of(session, server_id)
    recovered: list[int] = []
    below: dict[int, tuple[OwnedAccount, LiveState, Decimal]] = {}
    rows: tuple[list[int], list[str], list[Decimal]] = ([], [], [])
    for account, live in zip(accounts, states, strict=True):
        if live is None:
            continue  # unknown figures change nothing
        level = margin_level(live.state.equity, live.state.margin)
        if level is None or level >= lv.warning:
            recovered.append(account.id)
            continue
        below[account.id] = (account, live, level)
        kinds = ("warning", "stop_out") if level < lv.stop_out else ("warning",)
        for kind in kinds:
            rows[0].append(account.id)
            rows[1].append(kind)
            rows[2].append(level)
    conn = await driver(session)
    if recovered:
        await conn.execute(_REARM, recovered)
    if not below:
        return 0
    inserted = await conn.fetch(_ALERT, *rows)
    new: dict[int, set[str]] = {}
    for r in inserted:
        new.setdefault(int(r["trading_account_id"]), set()).add(str(r["kind"]))
    raised = 0
    for account_id, fresh in sorted(new.items()):
        account, live, level = below[account_id]
        kind = "stop_out" if "stop_out" in fresh else "warning"
        await _notify(session, account, live, level, kind, lv)
        raised += 1
    return raised


async def _notify(session: AsyncSession, account: OwnedAccount, live: LiveState, level: Decimal, kind: str,
                  lv: Levels) -> None:
    s = live.state
    equity, margin = money_text(at_scale(s.equity, s.currency)), money_text(at_scale(s.margin, s.currency))
    pct, threshold = decimal_text(level), decimal_text(lv.stop_out if kind == "stop_out" else lv.warning)
    what = "the stop-out level" if kind == "stop_out" else "the margin warning level"
    message = (f"The margin level of your trading account {account.login} is {pct}%, below {what} ({threshold}%): "
               f"equity {equity} {s.currency}, margin {margin} {s.currency}.")
    await notify(session, account.user_id, _KIND[kind], message, login=str(account.login), margin_level=pct,
                 threshold=threshold, equity=equity, margin=margin, currency=s.currency)
