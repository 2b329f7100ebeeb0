"""Property test: random sequences of money movements in every configured currency, at every scale
(JPY 0 places to ETH 18), some one at a time and some in concurrent bursts through group commit.

After every step the ledger's invariants hold and every client wallet holds exactly what a model of
the successful movements says (an amount rounded anywhere - in Python or in a column - breaks that);
refused steps and duplicate deliveries leave every table byte-identical; an amount finer than its
currency is refused with AMOUNT_PRECISION."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from domain.ledger import wallets
from domain.ledger.accounts import Purpose, house_account, wallet_for
from domain.ledger.holds import capture_hold, place_hold, release_hold
from domain.shared.actor import system_actor
from domain.shared.db import TxnFn, in_transaction
from domain.shared.errors import DomainError
from domain.shared.group_commit import GroupCommit
from domain.shared.money import CRYPTO_SCALES, currency
from tests.ledger.conftest import check_invariants, client, snapshot, staff

USERS = 3
# Every configured crypto asset and a fiat currency of each scale in use (0, 2 and 3 places).
CURRENCIES = sorted({"USD", "EUR", "JPY", "KWD", *CRYPTO_SCALES})
REFUSALS = {"INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "AMOUNT_PRECISION", "VALIDATION_FAILED", "RATE_UNAVAILABLE"}


def amounts(cur: str, *, signed: bool = False, finer: bool = False) -> st.SearchStrategy[Decimal]:
    """Amounts at exactly the currency's scale (its smallest unit up to 300), or with one more digit."""
    unit = currency(cur).quantum
    values = st.decimals(min_value=unit, max_value=Decimal(300), places=currency(cur).scale, allow_nan=False,
                         allow_infinity=False)
    if finer:
        values = st.tuples(values, st.integers(1, 9)).map(lambda v: v[0] + v[1] * unit / 10)
    if signed:
        return st.tuples(values, st.booleans()).map(lambda v: -v[0] if v[1] else v[0])
    return values


def money(*, signed: bool = False) -> st.SearchStrategy[tuple[str, Decimal]]:
    """(currency, amount): mostly exact at the currency's scale, sometimes one digit too fine."""
    return st.sampled_from(CURRENCIES).flatmap(lambda c: st.tuples(st.just(c), st.one_of(
        amounts(c, signed=signed), amounts(c, signed=signed), amounts(c, signed=signed),
        amounts(c, signed=signed, finer=True))))


user = st.integers(0, USERS - 1)
earlier = st.integers(0, 1000)
movements = st.one_of(
    st.tuples(st.just("deposit"), user, money()),
    st.tuples(st.just("exchange"), user, money()),
    st.tuples(st.just("adjust"), user, money(signed=True), st.booleans()),
    st.tuples(st.just("transfer"), user, user, money()),
)
ops = st.one_of(
    movements,
    st.tuples(st.just("hold"), user, money(), st.booleans()),
    st.tuples(st.just("duplicate"), earlier, st.booleans()),
    st.tuples(st.just("reverse"), earlier, st.booleans()),
    # concurrent movements through group commit; `True` also sends each one a second time, same key
    st.tuples(st.just("burst"), st.lists(movements, min_size=2, max_size=6), st.booleans()),
)

Effect = dict[tuple[int, str], Decimal]  # (user index, currency) -> change of the wallet's balance


def partner(cur: str) -> str:
    return "EUR" if cur == "USD" else "USD"  # crypto other than BTC has no rate: RATE_UNAVAILABLE


def work(uids: list[int], sid: int, op: tuple[Any, ...], k: str) -> TxnFn[Any]:
    """The transaction performing `op` with idempotency key `k`."""
    kind = op[0]
    if kind == "deposit":
        _, u, (cur, amount) = op
        return lambda s: wallets.deposit_to_wallet(s, client(uids[u]), user_id=uids[u], currency=cur, amount=amount,
                                                   idempotency_key=k)
    if kind == "exchange":
        _, u, (cur, amount) = op
        return lambda s: wallets.exchange(s, client(uids[u]), user_id=uids[u], from_currency=cur,
                                          to_currency=partner(cur), amount=amount, idempotency_key=k)
    if kind == "adjust":
        _, u, (cur, amount), allow = op

        async def adjust(s: Any) -> Any:
            w = await wallet_for(s, uids[u], cur)
            return await wallets.adjust_balance(s, staff(sid), wallet_id=w.id, amount=amount, reason="property",
                                                idempotency_key=k, allow_negative=allow)
        return adjust
    if kind == "transfer":
        _, a, b, (cur, amount) = op

        async def transfer(s: Any) -> Any:
            src, dst = await wallet_for(s, uids[a], cur), await wallet_for(s, uids[b], cur)
            return await wallets.wallet_transfer(s, system_actor("property"), from_wallet_id=src.id,
                                                 to_wallet_id=dst.id, amount=amount, idempotency_key=k,
                                                 owner_id=None)
        return transfer
    if kind == "hold":  # a transfer in flight: hold, then capture (platform said yes) or release (no)
        _, u, (cur, amount), succeed = op

        async def hold(s: Any) -> Any:
            w = await wallet_for(s, uids[u], cur)
            placed = await place_hold(s, w, amount, ref_kind="property", ref_id=k)
            if succeed:
                suspense = await house_account(s, Purpose.SUSPENSE, cur)
                return await capture_hold(s, system_actor("property"), w, placed.id, suspense, ref_kind="property",
                                          ref_id=k, idempotency_key=f"property:{k}")
            return await release_hold(s, w, placed.id)
        return hold
    raise AssertionError(kind)


def effect(op: tuple[Any, ...], result: Any) -> Effect:
    """What a successful, first-time `op` did to the client wallets."""
    out: Effect = defaultdict(Decimal)
    kind = op[0]
    if kind in ("deposit", "adjust"):
        out[(op[1], op[2][0])] += op[2][1]
    elif kind == "exchange":
        cur, amount = op[2]
        out[(op[1], cur)] -= amount
        out[(op[1], result.bought_currency)] += result.bought
    elif kind == "transfer":
        cur, amount = op[3]
        out[(op[1], cur)] -= amount
        out[(op[2], cur)] += amount
    elif kind == "hold" and op[3]:
        out[(op[1], op[2][0])] -= op[2][1]
    return out


def too_fine(op: tuple[Any, ...]) -> bool:
    cur, amount = next(x for x in op[1:] if isinstance(x, tuple))
    return bool(amount != amount.quantize(currency(cur).quantum))


def check_refusal(op: tuple[Any, ...], exc: DomainError) -> None:
    assert exc.code in REFUSALS, exc
    self_transfer = op[0] == "transfer" and op[1] == op[2]  # refused for that first
    if too_fine(op) and not self_transfer:
        assert exc.code == "AMOUNT_PRECISION", (op, exc)


async def wallets_now(session_factory: Any, uids: list[int]) -> Effect:
    async with session_factory() as s:
        rows = (await s.execute(text(
            "SELECT a.owner_id, a.currency, b.balance FROM ledger_accounts a JOIN ledger_balances b "
            "ON b.account_id = a.id WHERE a.purpose = 'client_wallet' AND a.owner_id = ANY(:u)"),
            {"u": uids})).all()
    return {(uids.index(r.owner_id), r.currency): Decimal(r.balance) for r in rows if r.balance}


def nonzero(model: Effect) -> Effect:
    return {k: v for k, v in model.items() if v}


class Run:
    def __init__(self, session_factory: Any, uids: list[int], sid: int) -> None:
        self.factory, self.uids, self.sid = session_factory, uids, sid
        self.model: Effect = defaultdict(Decimal)
        self.done: list[tuple[tuple[Any, ...], str, int | None, Effect]] = []  # (op, key, entry id, effect)

    def settled(self, op: tuple[Any, ...], k: str, result: Any) -> None:
        if getattr(result, "replayed", False):
            return  # a repeat changes nothing
        change = effect(op, result)
        for where, delta in change.items():
            self.model[where] += delta
        if op[0] != "hold":
            self.done.append((op, k, getattr(result, "entry_id", None), change))

    async def one(self, op: tuple[Any, ...]) -> None:
        before = await snapshot(self.factory)
        k = uuid.uuid4().hex
        try:
            result = await in_transaction(self.factory, work(self.uids, self.sid, op, k))
        except DomainError as exc:
            check_refusal(op, exc)
            assert await snapshot(self.factory) == before
        else:
            assert not too_fine(op), f"booked an amount finer than its currency: {op}"
            self.settled(op, k, result)

    async def burst(self, batch: list[tuple[Any, ...]], twice: bool) -> None:
        group = GroupCommit(self.factory, drains=2)
        keyed = [(op, uuid.uuid4().hex) for op in batch]
        sent = keyed + (keyed if twice else [])
        results = await asyncio.gather(*(group.run(work(self.uids, self.sid, op, k)) for op, k in sent),
                                       return_exceptions=True)
        firsts: dict[str, Any] = {}
        for (op, k), result in zip(sent, results, strict=True):
            if isinstance(result, DomainError):
                if twice and result.code == "IDEMPOTENCY_IN_PROGRESS":
                    continue  # one delivery met the other still running: a retryable answer
                check_refusal(op, result)
                continue
            assert not isinstance(result, BaseException), result
            assert not too_fine(op), f"booked an amount finer than its currency: {op}"
            if k in firsts and not result.replayed:
                # the other delivery of this key must then have been the replay
                assert firsts[k].replayed and firsts[k].entry_id == result.entry_id
            firsts.setdefault(k, result)
            self.settled(op, k, result)

    async def duplicate(self, index: int, same: bool) -> None:
        if not self.done:
            return
        original, k, _, _ = self.done[index % len(self.done)]
        before = await snapshot(self.factory)
        repeat = original if same else _altered(original)
        try:
            result = await in_transaction(self.factory, work(self.uids, self.sid, repeat, k))
        except DomainError as exc:
            assert not same, exc
            assert exc.code == "IDEMPOTENCY_KEY_REUSED"
        else:
            assert result.replayed
        assert await snapshot(self.factory) == before  # exactly one effect

    async def reverse(self, index: int, allow: bool) -> None:
        if not self.done:
            return
        _, _, entry_id, change = self.done[index % len(self.done)]
        if entry_id is None:
            return
        before = await snapshot(self.factory)
        try:
            await in_transaction(self.factory, lambda s: wallets.reverse(
                s, staff(self.sid), entry_id=entry_id, reason="property reversal", idempotency_key=uuid.uuid4().hex,
                allow_negative=allow))
        except DomainError as exc:
            assert exc.code in ("INSUFFICIENT_FUNDS", "ENTRY_ALREADY_REVERSED"), exc
            assert await snapshot(self.factory) == before
        else:
            for where, delta in change.items():
                self.model[where] -= delta


# No explain phase: it re-runs a failing case dozens of times against the database for little gain.
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
@given(steps=st.lists(ops, min_size=4, max_size=12))
async def test_random_sequences_keep_the_ledger_sound_and_exact(session_factory, make_user, steps):
    uids = [await make_user() for _ in range(USERS)]
    sid = await make_user(staff=True)
    run = Run(session_factory, uids, sid)
    for op in steps:
        if op[0] == "duplicate":
            await run.duplicate(op[1], op[2])
        elif op[0] == "reverse":
            await run.reverse(op[1], op[2])
        elif op[0] == "burst":
            await run.burst(op[1], op[2])
        else:
            await run.one(op)
        await check_invariants(session_factory)
        assert await wallets_now(session_factory, uids) == nonzero(run.model), op


def _altered(op: tuple[Any, ...]) -> tuple[Any, ...]:
    """The same operation with a different amount: the same key must then be refused."""
    idx = next(i for i, x in enumerate(op) if isinstance(x, tuple))
    cur, amount = op[idx]
    unit = currency(cur).quantum
    changed = list(op)
    changed[idx] = (cur, amount + unit if amount + unit else amount + 2 * unit)
    return tuple(changed)
