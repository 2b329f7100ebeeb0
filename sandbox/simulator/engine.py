"""The simulated trading server: accounts, groups, positions, deals, margin, swaps and stop-out.

All state changes happen synchronously on the event loop (no awaits inside), so every API call and
every clock step is atomic; `commit()` makes them durable.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.simulator import mt5_codes as rc
from sandbox.simulator.market import INSTRUMENTS, Instrument, PriceFeed
from sandbox.simulator.store import Store

CENT = Decimal("0.01")
LOT_EXT = 100_000_000  # VolumeExt units per lot
RIGHT_ENABLED, RIGHT_TRADE_DISABLED, RIGHT_READONLY = 0x1, 0x4, 0x200
RIGHTS_DEFAULT = 0x1E3
REASON_CLIENT, REASON_EXPERT, REASON_SO = 0, 1, 5
ENTRY_IN, ENTRY_OUT = 0, 1
# IMTOrder::EnOrderState values the simulator writes to the order history.
ORDER_CANCELED, ORDER_FILLED, ORDER_REJECTED = 2, 4, 5
# IMTOrder::EnOrderType of the pending orders simulated traders place (market orders are 0 buy, 1 sell).
ORDER_BUY_STOP, ORDER_SELL_STOP = 4, 5
BALANCE_ACTIONS = {2, 3, 4, 5, 6}
COMMENT_MAX = 31


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class SimError(Exception):
    def __init__(self, retcode: int, message: str = "") -> None:
        super().__init__(message or rc.text(retcode))
        self.retcode = retcode


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    currency: str
    leverage: int
    margin_call: int
    stop_out: int
    commission_per_lot: Decimal  # per side, 0 = none


GROUPS: dict[str, Group] = {
    g.name: g
    for g in (
        Group("real\\standard", "USD", 500, 100, 50, Decimal(0)),
        Group("real\\raw", "USD", 500, 100, 50, Decimal("3.50")),
        Group("real\\pro", "USD", 100, 120, 80, Decimal("2.00")),
        Group("demo\\standard", "USD", 1000, 100, 50, Decimal(0)),
    )
}


@dataclass(slots=True)
class Account:
    login: int
    group: str
    leverage: int
    rights: int
    name: str
    email: str = ""
    country: str = ""
    phone: str = ""
    city: str = ""
    address: str = ""
    zip_code: str = ""
    comment: str = ""
    lead_source: str = ""
    registration: int = 0  # unix seconds
    balance: Decimal = Decimal("0.00")
    credit: Decimal = Decimal("0.00")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["balance"], data["credit"] = str(self.balance), str(self.credit)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Account:
        data = dict(data, balance=Decimal(data["balance"]), credit=Decimal(data["credit"]))
        return cls(**data)

    @property
    def can_trade(self) -> bool:
        return bool(self.rights & RIGHT_ENABLED) and not self.rights & (RIGHT_TRADE_DISABLED | RIGHT_READONLY)


@dataclass(slots=True)
class Pos:
    position: int
    login: int
    symbol: str
    action: int  # 0 buy, 1 sell
    volume_ext: int
    price_open: Decimal
    time_create_msc: int
    time_update_msc: int
    storage: Decimal = Decimal("0.00")
    comment: str = ""

    @property
    def lots(self) -> Decimal:
        return Decimal(self.volume_ext) / LOT_EXT

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["price_open"], data["storage"] = str(self.price_open), str(self.storage)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pos:
        return cls(**dict(data, price_open=Decimal(data["price_open"]), storage=Decimal(data["storage"])))


@dataclass(slots=True)
class Pending:
    """A stop order waiting for the market. Its ticket is taken when it is placed; it reaches the
    order history only when it ends (filled, cancelled or rejected), as MT5 history holds ended orders."""

    order: int
    login: int
    symbol: str
    type: int  # ORDER_BUY_STOP or ORDER_SELL_STOP
    lots: Decimal
    price: Decimal  # the stop (trigger) price
    setup_ms: int

    @property
    def action(self) -> int:
        return self.type % 2  # 0 buy, 1 sell, as for market orders

    def to_json(self) -> dict[str, Any]:
        return dict(asdict(self), lots=str(self.lots), price=str(self.price))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pending:
        return cls(**dict(data, lots=Decimal(data["lots"]), price=Decimal(data["price"])))


@dataclass(slots=True)
class Figures:
    balance: Decimal
    credit: Decimal
    floating: Decimal
    storage: Decimal
    equity: Decimal
    margin: Decimal
    margin_free: Decimal
    margin_level: Decimal


@dataclass(slots=True)
class Counters:
    now_ms: int
    next_login: int = 100_000
    next_deal: int = 1_000
    next_order: int = 5_000
    steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Engine:
    def __init__(self, store: Store, *, seed: int, live: bool, start_ms: int | None = None) -> None:
        self.store = store
        self.seed = seed
        self.live = live
        saved = store.get_meta("counters")
        wall = int(time.time() * 1000)
        self.c = Counters(**saved) if saved else Counters(now_ms=wall if start_ms is None else start_ms)
        self.c.next_deal = max(self.c.next_deal, store.max_deal() + 1)
        if live:
            self.c.now_ms = max(self.c.now_ms, wall)
        self.accounts = {a["login"]: Account.from_json(a) for a in store.load("accounts")}
        self.positions = {p["position"]: Pos.from_json(p) for p in store.load("positions")}
        self.traders: dict[int, dict[str, Any]] = {t["login"]: t for t in store.load("traders")}
        self.feed = PriceFeed(store.get_meta("feed"), self.c.now_ms)
        # Re-seeding from (seed, steps) keeps a restarted server deterministic.
        self.rng = random.Random(f"{seed}:{self.c.steps}")
        # Order-request detail (slippage, requotes, floods) draws from its own stream, so adding it
        # left every trader's decisions (and so every existing deal) as they were.
        self.req_rng = random.Random(f"{seed}:requests:{self.c.steps}")
        # Pending-order straddles likewise: their own stream leaves the other streams untouched.
        self.straddle_rng = random.Random(f"{seed}:straddles:{self.c.steps}")
        self.deals_created = 0

    # -- durability -----------------------------------------------------------------------------

    def commit(self) -> None:
        self.store.set_meta("counters", asdict(self.c))
        self.store.set_meta("feed", self.feed.snapshot())
        self.store.commit()

    def clock(self) -> int:
        """Time for an API-driven event; in live mode simulated time follows the wall clock."""
        if self.live:
            self.c.now_ms = max(self.c.now_ms, int(time.time() * 1000))
        return self.c.now_ms

    # -- accounts -------------------------------------------------------------------------------

    def account(self, login: int) -> Account:
        try:
            return self.accounts[login]
        except KeyError:
            raise SimError(rc.NOTFOUND) from None

    def add_user(self, data: dict[str, Any]) -> Account:
        group = str(data.get("Group", ""))
        if group not in GROUPS:
            raise SimError(rc.PARAMS, "invalid group")
        leverage = _int(data.get("Leverage"), GROUPS[group].leverage)
        if not 1 <= leverage <= 5000:
            raise SimError(rc.PARAMS, "invalid leverage")
        if not _strong_password(str(data.get("PassMain", ""))):
            raise SimError(rc.USR_INVALID_PASSWORD)
        login = _int(data.get("Login"), 0)
        if login:
            if login in self.accounts:
                raise SimError(rc.USR_LOGIN_EXIST)
        else:
            while self.c.next_login in self.accounts:
                self.c.next_login += 1
            login = self.c.next_login
            self.c.next_login += 1
        account = Account(
            login=login,
            group=group,
            leverage=leverage,
            rights=_int(data.get("Rights"), RIGHTS_DEFAULT),
            name=str(data.get("Name", ""))[:127],
            email=str(data.get("EMail", data.get("Email", ""))),
            country=str(data.get("Country", "")),
            phone=str(data.get("Phone", "")),
            city=str(data.get("City", "")),
            address=str(data.get("Address", "")),
            zip_code=str(data.get("ZipCode", "")),
            comment=str(data.get("Comment", ""))[:COMMENT_MAX],
            lead_source=str(data.get("LeadSource", "")),
            registration=self.clock() // 1000,
        )
        self.accounts[login] = account
        self.store.put_account(login, account.to_json())
        return account

    def update_user(self, login: int, changes: dict[str, Any]) -> Account:
        account = self.account(login)
        if "Group" in changes:
            if str(changes["Group"]) not in GROUPS:
                raise SimError(rc.PARAMS, "invalid group")
            account.group = str(changes["Group"])
        if "Leverage" in changes:
            leverage = _int(changes["Leverage"], 0)
            if not 1 <= leverage <= 5000:
                raise SimError(rc.PARAMS, "invalid leverage")
            account.leverage = leverage
        if "Rights" in changes:
            account.rights = _int(changes["Rights"], account.rights)
        for key, attr in (
            ("Name", "name"),
            ("EMail", "email"),
            ("Country", "country"),
            ("Comment", "comment"),
        ):
            if key in changes:
                setattr(account, attr, str(changes[key]))
        self.store.put_account(login, account.to_json())
        return account

    # -- money ----------------------------------------------------------------------------------

    def figures(self, login: int) -> Figures:
        account = self.account(login)
        floating = storage = margin = Decimal(0)
        for pos in self.positions.values():
            if pos.login != login:
                continue
            floating += self.position_profit(pos)
            storage += pos.storage
            margin += self.position_margin(pos, account.leverage)
        floating, margin = money(floating), money(margin)
        equity = account.balance + account.credit + floating + storage
        level = money(equity / margin * 100) if margin > 0 else Decimal("0.00")
        return Figures(
            account.balance, account.credit, floating, storage, equity, margin, equity - margin, level
        )

    def position_profit(self, pos: Pos) -> Decimal:
        inst = INSTRUMENTS[pos.symbol]
        bid, ask = self.feed.bid_ask(pos.symbol)
        diff = (bid - pos.price_open) if pos.action == 0 else (pos.price_open - ask)
        return money(diff * pos.lots * inst.contract_size * self.feed.to_usd(inst.profit))

    def position_margin(self, pos: Pos, leverage: int) -> Decimal:
        inst = INSTRUMENTS[pos.symbol]
        return pos.lots * inst.contract_size * self._margin_rate(inst) / leverage

    def _margin_rate(self, inst: Instrument) -> Decimal:
        if inst.calc_mode == 2:  # CFD: notional at the current price
            return Decimal(repr(self.feed.symbols[inst.symbol].quote_mid)) * self.feed.to_usd(inst.profit)
        return self.feed.to_usd(inst.base)

    def balance_operation(
        self, login: int, action: int, amount: Decimal, comment: str, check_margin: bool
    ) -> int:
        account = self.account(login)
        if action not in BALANCE_ACTIONS or not amount.is_finite() or amount == 0:
            raise SimError(rc.PARAMS)
        amount = money(amount)
        if amount < 0 and check_margin:
            if action == 3:
                if -amount > account.credit:
                    raise SimError(rc.REQUEST_NO_MONEY)
            else:
                figures = self.figures(login)
                if -amount > figures.margin_free or -amount > account.balance:
                    raise SimError(rc.REQUEST_NO_MONEY)
        if action == 3:
            account.credit += amount
        else:
            account.balance += amount
        self.store.put_account(login, account.to_json())
        return self._deal(
            account, action=action, entry=ENTRY_IN, symbol="", price=Decimal(0), volume_ext=0, profit=amount,
            comment=comment, position=0, order=0, reason=REASON_CLIENT, inst=None,
        )  # fmt: skip

    # -- trading --------------------------------------------------------------------------------

    def open_position(
        self,
        login: int,
        symbol: str,
        action: int,
        lots: Decimal,
        *,
        price: Decimal | None = None,
        time_ms: int | None = None,
        reason: int = REASON_EXPERT,
        comment: str = "",
        slip_points: int = 0,
    ) -> Pos:
        """Open at the current quote (or `price`). The request carried a price `slip_points` points
        away from the fill: positive when the fill is better for the client. A refused request is
        kept in the order history as rejected."""
        now = time_ms if time_ms is not None else self.clock()
        try:
            return self._open(login, symbol, action, lots, price, now, reason, comment, slip_points)
        except SimError as exc:
            if symbol in INSTRUMENTS and action in (0, 1) and login in self.accounts:
                self.reject_request(login, symbol, action, lots, now, rc.text(exc.retcode))
            raise

    def _open(
        self, login: int, symbol: str, action: int, lots: Decimal, price: Decimal | None, now: int, reason: int,
        comment: str, slip_points: int, pending: Pending | None = None,
    ) -> Pos:  # fmt: skip
        account = self.account(login)
        if not account.can_trade:
            raise SimError(rc.REQUEST_TRADE_DISABLED)
        inst = INSTRUMENTS.get(symbol)
        if inst is None or action not in (0, 1):
            raise SimError(rc.REQUEST_INVALID)
        volume_ext = int(lots * LOT_EXT)
        if volume_ext < LOT_EXT // 100 or volume_ext % (LOT_EXT // 100):
            raise SimError(rc.REQUEST_INVALID_VOLUME)
        bid, ask = self.feed.bid_ask(symbol)
        fill = price if price is not None else (ask if action == 0 else bid)
        order = pending.order if pending else self._next_order()
        pos = Pos(order, login, symbol, action, volume_ext, fill, now, now, comment=comment[:COMMENT_MAX])
        needed = self.position_margin(pos, account.leverage)
        if needed > self.figures(login).margin_free:
            raise SimError(rc.REQUEST_NO_MONEY)
        self.positions[pos.position] = pos
        self.store.put_position(pos.position, login, pos.to_json())
        commission = -money(GROUPS[account.group].commission_per_lot * pos.lots)
        requested = pending.price if pending else _requested(inst, action, fill, slip_points)
        self._order(order, login, inst, action, volume_ext, requested, fill, ORDER_FILLED, now, pos.position, reason,
                    comment, pending)  # fmt: skip
        self._deal(
            account, action=action, entry=ENTRY_IN, symbol=symbol, price=fill, volume_ext=volume_ext,
            profit=Decimal("0.00"), commission=commission, comment=pos.comment, position=pos.position,
            order=order, reason=reason, inst=inst, time_ms=now,
        )  # fmt: skip
        return pos

    def close_position(
        self,
        position: int,
        *,
        price: Decimal | None = None,
        time_ms: int | None = None,
        reason: int = REASON_EXPERT,
        slip_points: int = 0,
    ) -> int:
        pos = self.positions.get(position)
        if pos is None:
            raise SimError(rc.NOTFOUND)
        account = self.account(pos.login)
        inst = INSTRUMENTS[pos.symbol]
        bid, ask = self.feed.bid_ask(pos.symbol)
        fill = price if price is not None else (bid if pos.action == 0 else ask)
        diff = (fill - pos.price_open) if pos.action == 0 else (pos.price_open - fill)
        profit = money(diff * pos.lots * inst.contract_size * self.feed.to_usd(inst.profit))
        commission = -money(GROUPS[account.group].commission_per_lot * pos.lots)
        del self.positions[position]
        self.store.delete_position(position)
        now = time_ms if time_ms is not None else self.clock()
        order = self._next_order()
        side = 1 - pos.action
        self._order(order, pos.login, inst, side, pos.volume_ext, _requested(inst, side, fill, slip_points), fill,
                    ORDER_FILLED, now, position, reason, pos.comment)  # fmt: skip
        return self._deal(
            account, action=side, entry=ENTRY_OUT, symbol=pos.symbol, price=fill,
            volume_ext=pos.volume_ext, profit=profit, commission=commission, storage=pos.storage,
            comment=pos.comment, position=position, order=order, reason=reason, inst=inst,
            time_ms=now, price_position=pos.price_open,
        )  # fmt: skip

    def reject_request(self, login: int, symbol: str, action: int, lots: Decimal, time_ms: int, why: str) -> int:
        """A market request the server refused (requote, off quotes, no money...): history only."""
        inst = INSTRUMENTS[symbol]
        bid, ask = self.feed.bid_ask(symbol)
        order = self._next_order()
        self._order(order, login, inst, action, int(lots * LOT_EXT), ask if action == 0 else bid, None,
                    ORDER_REJECTED, time_ms, 0, REASON_EXPERT, why)  # fmt: skip
        return order

    def place_stop(
        self, login: int, symbol: str, order_type: int, lots: Decimal, price: Decimal, time_ms: int
    ) -> Pending:
        """Accept a buy-stop or sell-stop order; the caller keeps it until it triggers or is cancelled."""
        self.account(login)
        if symbol not in INSTRUMENTS or order_type not in (ORDER_BUY_STOP, ORDER_SELL_STOP) or price <= 0:
            raise SimError(rc.REQUEST_INVALID)
        return Pending(self._next_order(), login, symbol, order_type, lots, price, time_ms)

    def trigger_stop(self, pending: Pending, time_ms: int) -> Pos:
        """The market reached the stop: filled at the current quote, so a gap through it slips the fill.
        A fill the account cannot afford is rejected, as MT5 rejects an activation without margin."""
        try:
            return self._open(pending.login, pending.symbol, pending.action, pending.lots, None, time_ms,
                              REASON_EXPERT, "", 0, pending)  # fmt: skip
        except SimError as exc:
            self.end_pending(pending, time_ms, ORDER_REJECTED, rc.text(exc.retcode))
            raise

    def end_pending(self, pending: Pending, time_ms: int, state: int = ORDER_CANCELED, comment: str = "") -> None:
        """A pending order that ends unfilled enters the history (cancelled by the client, or rejected)."""
        inst = INSTRUMENTS[pending.symbol]
        self._order(pending.order, pending.login, inst, pending.action, int(pending.lots * LOT_EXT), pending.price,
                    None, state, time_ms, 0, REASON_EXPERT, comment, pending)  # fmt: skip

    def _order(
        self, order: int, login: int, inst: Instrument, action: int, volume_ext: int, requested: Decimal,
        fill: Decimal | None, state: int, time_ms: int, position: int, reason: int, comment: str,
        pending: Pending | None = None,
    ) -> None:  # fmt: skip
        # IMTOrder: PriceOrder is the price the client asked for (a stop order's trigger price); for a
        # filled order the simulator reports the execution price in PriceCurrent (0 when nothing was
        # executed). A pending order was set up before it ended; a market order ends when it is sent.
        setup_ms = pending.setup_ms if pending else time_ms
        data = {
            "Order": str(order), "ExternalID": "", "Login": str(login), "Dealer": "0", "Symbol": inst.symbol,
            "Digits": str(inst.digits), "DigitsCurrency": "2", "ContractSize": str(inst.contract_size),
            "State": str(state), "Reason": str(reason), "TimeSetup": str(setup_ms // 1000),
            "TimeSetupMsc": str(setup_ms), "TimeDoneMsc": str(time_ms), "TimeExpiration": "0",
            "Type": str(pending.type if pending else action), "TypeFill": "0", "TypeTime": "0",
            "PriceOrder": str(requested),
            "PriceTrigger": "0", "PriceCurrent": str(fill if fill is not None else 0), "PriceSL": "0",
            "PriceTP": "0", "VolumeInitial": str(volume_ext // 10_000), "VolumeInitialExt": str(volume_ext),
            "VolumeCurrent": "0", "VolumeCurrentExt": "0", "ExpertID": "0", "PositionID": str(position),
            "PositionByID": "0", "Comment": comment[:COMMENT_MAX],
        }  # fmt: skip
        self.store.add_order(order, login, setup_ms, data)  # the history is paged by setup time

    def _next_order(self) -> int:
        self.c.next_order += 1
        return self.c.next_order

    def _deal(
        self,
        account: Account,
        *,
        action: int,
        entry: int,
        symbol: str,
        price: Decimal,
        volume_ext: int,
        profit: Decimal,
        comment: str,
        position: int,
        order: int,
        reason: int,
        inst: Instrument | None,
        commission: Decimal = Decimal("0.00"),
        storage: Decimal = Decimal("0.00"),
        time_ms: int | None = None,
        price_position: Decimal | None = None,
    ) -> int:
        deal_id = self.c.next_deal
        self.c.next_deal += 1
        now = time_ms if time_ms is not None else self.clock()
        if inst is not None:
            # Trading deals realise profit, swap and commission into the balance.
            account.balance += profit + commission + storage
            self.store.put_account(account.login, account.to_json())
        rate_profit = self.feed.to_usd(inst.profit) if inst else Decimal(1)
        rate_margin = self._margin_rate(inst) if inst else Decimal(0)
        data = {
            "Deal": str(deal_id), "ExternalID": "", "Login": str(account.login), "Dealer": "0",
            "Order": str(order), "Action": str(action), "Entry": str(entry), "Reason": str(reason),
            "Digits": str(inst.digits if inst else 0), "DigitsCurrency": "2",
            "ContractSize": str(inst.contract_size if inst else 0), "Time": str(now // 1000),
            "TimeMsc": str(now), "Symbol": symbol, "Price": str(price),
            "PricePosition": str(price_position or 0),
            "Volume": str(volume_ext // 10_000), "VolumeExt": str(volume_ext),
            "VolumeClosed": str(volume_ext // 10_000 if entry == ENTRY_OUT else 0),
            "VolumeClosedExt": str(volume_ext if entry == ENTRY_OUT else 0),
            "Profit": str(profit), "ProfitRaw": str(profit), "Storage": str(storage),
            "Commission": str(commission), "Fee": "0.00", "Value": "0.00",
            "RateProfit": f"{rate_profit:.8f}", "RateMargin": f"{rate_margin:.8f}",
            "ExpertID": "0", "PositionID": str(position), "Comment": comment[:COMMENT_MAX],
            "PriceSL": "0", "PriceTP": "0", "Flags": "0", "Gateway": "", "PriceGateway": "0",
            "ModifyFlags": "0",
        }  # fmt: skip
        self.store.add_deal(deal_id, account.login, now, data)
        self.deals_created += 1
        return deal_id

    # -- the clock ------------------------------------------------------------------------------

    def step(self, dt_ms: int, activity: float) -> None:
        """Advance simulated time by dt_ms: prices, rollover swaps, traders, stop-out."""
        from sandbox.simulator.traders import act_all  # traders depend on the engine

        prev = self.c.now_ms
        self.c.now_ms = prev + dt_ms
        self.c.steps += 1
        self.feed.advance(self.rng, prev, self.c.now_ms)
        if _day(prev) != _day(self.c.now_ms):
            self._rollover(self.c.now_ms)
        act_all(self, self.rng, self.c.now_ms, activity, dt_ms)
        self._stop_out()

    def _rollover(self, now_ms: int) -> None:
        triple = datetime.fromtimestamp(now_ms / 1000, tz=UTC).weekday() == 3  # Wed->Thu night
        for pos in self.positions.values():
            inst = INSTRUMENTS[pos.symbol]
            per_lot = inst.swap_long if pos.action == 0 else inst.swap_short
            pos.storage += money(per_lot * pos.lots * (3 if triple else 1))
            pos.time_update_msc = now_ms
            self.store.put_position(pos.position, pos.login, pos.to_json())

    def _stop_out(self) -> None:
        for login in sorted({p.login for p in self.positions.values()}):
            account = self.accounts[login]
            stop_out = Decimal(GROUPS[account.group].stop_out)
            while True:
                figures = self.figures(login)
                if figures.margin <= 0 or figures.margin_level >= stop_out:
                    break
                worst = min(
                    (p for p in self.positions.values() if p.login == login), key=self.position_profit
                )
                self.close_position(worst.position, reason=REASON_SO)
                self._forget_trader_position(login, worst.position)

    def _forget_trader_position(self, login: int, position: int) -> None:
        trader = self.traders.get(login)
        for held in ("open", "straddle_open"):  # straddle fills are held apart from the trader's own
            if trader and str(position) in trader.get(held, {}):
                del trader[held][str(position)]
                self.store.put_trader(login, trader)


def _requested(inst: Instrument, action: int, fill: Decimal, slip_points: int) -> Decimal:
    """The requested price of a fill that slipped `slip_points` in the client's favour (negative:
    against): a buy filled below, a sell filled above the price asked for is in the client's favour."""
    point = Decimal(1).scaleb(-inst.digits)
    return fill + (1 if action == 0 else -1) * slip_points * point


def _day(ms: int) -> int:
    return ms // 86_400_000


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def _strong_password(password: str) -> bool:
    return (
        len(password) >= 8
        and any(c.islower() for c in password)
        and any(c.isupper() for c in password)
        and any(c.isdigit() for c in password)
    )
