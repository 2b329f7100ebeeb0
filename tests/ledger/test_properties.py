"""Property test: random sequences of money movements, re-checking the ledger's invariants after
every step; refused steps and duplicate deliveries must leave every table byte-identical."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.ledger import wallets
from domain.ledger.accounts import Purpose, house_account, wallet_for
from domain.ledger.holds import capture_hold, place_hold, release_hold
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from tests.ledger.conftest import check_invariants, client, snapshot, staff

USERS = 3
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("300"), places=2)
currencies = st.sampled_from(["USD", "EUR"])
user = st.integers(0, USERS - 1)
earlier = st.integers(0, 1000)
ops = st.one_of(
    st.tuples(st.just("deposit"), user, currencies, amounts),
    st.tuples(st.just("exchange"), user, currencies, amounts),
    st.tuples(st.just("adjust"), user, currencies, st.decimals(min_value=Decimal("-200"), max_value=Decimal("200"),
                                                                places=2), st.booleans()),
    st.tuples(st.just("transfer"), user, user, currencies, amounts),
    st.tuples(st.just("hold"), user, currencies, amounts, st.booleans()),
    st.tuples(st.just("duplicate"), earlier, st.booleans()),
    st.tuples(st.just("reverse"), earlier, st.booleans()),
)


def runner(factory: Any, uids: list[int], sid: int, op: tuple[Any, ...], k: str) -> Any:
    """A zero-argument coroutine factory performing `op` with idempotency key `k`."""
    kind = op[0]
    if kind == "deposit":
        _, u, cur, amount = op
        return lambda: in_transaction(factory, lambda s: wallets.deposit_to_wallet(
            s, client(uids[u]), user_id=uids[u], currency=cur, amount=amount, idempotency_key=k))
    if kind == "exchange":
        _, u, cur, amount = op
        other = "EUR" if cur == "USD" else "USD"
        return lambda: in_transaction(factory, lambda s: wallets.exchange(
            s, client(uids[u]), user_id=uids[u], from_currency=cur, to_currency=other, amount=amount,
            idempotency_key=k))
    if kind == "adjust":
        _, u, cur, amount, allow = op

        async def adjust(s: Any) -> Any:
            w = await wallet_for(s, uids[u], cur)
            return await wallets.adjust_balance(s, staff(sid), wallet_id=w.id, amount=amount, reason="property",
                                                idempotency_key=k, allow_negative=allow)
        return lambda: in_transaction(factory, adjust)
    if kind == "transfer":
        _, a, b, cur, amount = op

        async def transfer(s: Any) -> Any:
            src, dst = await wallet_for(s, uids[a], cur), await wallet_for(s, uids[b], cur)
            return await wallets.wallet_transfer(s, system_actor("property"), from_wallet_id=src.id,
                                                 to_wallet_id=dst.id, amount=amount, idempotency_key=k,
                                                 owner_id=None)
        return lambda: in_transaction(factory, transfer)
    if kind == "hold":  # a transfer in flight: hold, then capture (platform said yes) or release (no)
        _, u, cur, amount, succeed = op

        async def hold(s: Any) -> Any:
            w = await wallet_for(s, uids[u], cur)
            placed = await place_hold(s, w, amount, ref_kind="property", ref_id=k)
            if succeed:
                suspense = await house_account(s, Purpose.SUSPENSE, cur)
                return await capture_hold(s, system_actor("property"), w, placed.id, suspense, ref_kind="property",
                                          ref_id=k, idempotency_key=f"property:{k}")
            return await release_hold(s, w, placed.id)
        return lambda: in_transaction(factory, hold)
    raise AssertionError(kind)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(ops, min_size=4, max_size=12))
async def test_random_sequences_keep_the_ledger_sound(session_factory, make_user, steps):
    uids = [await make_user() for _ in range(USERS)]
    sid = await make_user(staff=True)
    done: list[tuple[tuple[Any, ...], str, int | None]] = []  # (op, key, entry id)
    for op in steps:
        before = await snapshot(session_factory)
        if op[0] in ("duplicate", "reverse"):
            if not done:
                continue
            original, k, entry_id = done[op[1] % len(done)]
            if op[0] == "duplicate":
                same = op[2]
                repeat = original if same or original[0] == "hold" else _altered(original)
                try:
                    await runner(session_factory, uids, sid, repeat, k)()
                except DomainError as exc:
                    assert not same, exc
                    assert exc.code == "IDEMPOTENCY_KEY_REUSED"
                assert await snapshot(session_factory) == before  # exactly one effect
                continue
            if entry_id is None:
                continue
            try:
                await in_transaction(session_factory, lambda s, e=entry_id, a=op[2]: wallets.reverse(  # type: ignore[misc]
                    s, staff(sid), entry_id=e, reason="property reversal", idempotency_key=uuid.uuid4().hex,
                    allow_negative=a))
            except DomainError as exc:
                assert exc.code in ("INSUFFICIENT_FUNDS", "ENTRY_ALREADY_REVERSED"), exc
                assert await snapshot(session_factory) == before
        else:
            k = uuid.uuid4().hex
            try:
                result = await runner(session_factory, uids, sid, op, k)()
            except DomainError as exc:
                assert exc.code in ("INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "VALIDATION_FAILED"), exc
                assert await snapshot(session_factory) == before
            else:
                if op[0] != "hold":
                    done.append((op, k, getattr(result, "entry_id", None)))
        await check_invariants(session_factory)


def _altered(op: tuple[Any, ...]) -> tuple[Any, ...]:
    """The same operation with a different amount: the same key must then be refused."""
    idx = 3 if op[0] in ("deposit", "exchange", "adjust") else 4
    changed = list(op)
    changed[idx] = op[idx] + Decimal("0.01") if op[idx] != Decimal("-0.01") else Decimal("0.02")
    return tuple(changed)
