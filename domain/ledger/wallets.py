"""Client wallets: deposits, staff adjustments, internal exchange and wallet-to-wallet moves.

Every service here takes an idempotency key, runs inside the caller's transaction, posts one
balanced entry and records an audit event. A refused call raises before commit, so the caller's
rollback leaves no trace (not even the idempotency row).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.identity import four_eyes
from domain.ledger import idempotency
from domain.ledger.accounts import AccountRef, AccountType, Purpose, get_wallet, house_account, wallet_for
from domain.ledger.errors import CurrencyMismatch, IdempotencyKeyReused
from domain.ledger.idempotency import Settlement
from domain.ledger.posting import Leg, post
from domain.ledger.rates import DEFAULT_RATES, RateSource
from domain.shared.actor import Actor
from domain.shared.errors import Conflict, InvalidAmount, NotFound, PermissionDenied, ValidationFailed
from domain.shared.money import currency as currency_info
from domain.shared.money import quantize_exact, round_to
from domain.shared.pagination import Page, PageRequest, sql_page

DEFAULT_EXCHANGE_MARKUP = Decimal("0.005")  # 50 bp of the mid rate, booked as broker revenue
MAX_REASON = 1000


@dataclass(frozen=True)
class Movement:
    entry_id: int
    replayed: bool  # True when an earlier call with the same idempotency key produced it


@dataclass(frozen=True)
class ExchangeResult:
    entry_id: int
    replayed: bool
    sold: Decimal
    sold_currency: str
    bought: Decimal
    bought_currency: str
    mid_rate: Decimal
    applied_rate: Decimal
    fee: Decimal


def positive(amount: Decimal, code: str, *, field: str = "amount") -> Decimal:
    amount = quantize_exact(amount, code, field=field)
    if amount <= 0:
        raise InvalidAmount("amount must be positive", field=field)
    return amount


def entry_key(actor: Actor, key: str) -> str:
    return f"{actor.label}:{key.strip()}"


async def once(
    session: AsyncSession, actor: Actor, key: str, operation: str, payload: Mapping[str, Any],
    work: Callable[[Settlement], Awaitable[dict[str, Any]]], *, posts_first: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Run `work` once per (actor, key); a repeat returns the stored result and True.

    `work` gets the key's Settlement: passing it to post() stores the result with the entry;
    otherwise the result `work` returns is stored here.

    `posts_first`: work writes nothing that matters before its post() (lookups, wallets created on
    demand), so the posting statement claims the key as well: one round trip fewer. Otherwise the
    key is claimed before work runs."""
    key = idempotency.check_key(key)
    if posts_first:
        fingerprint = idempotency.fingerprint(operation, payload)
        try:
            return await work(Settlement(actor.label, key, fingerprint=fingerprint)), False
        except idempotency.KeyTaken:
            claim = await idempotency.settled(session, scope=actor.label, key=key, fingerprint=fingerprint)
            return dict(claim.result or {}), True
    claim = await idempotency.claim(session, scope=actor.label, key=key, operation=operation, payload=payload)
    if not claim.fresh:
        return dict(claim.result or {}), True
    settlement = Settlement(actor.label, key)
    result = await work(settlement)
    if not settlement.settled:
        await idempotency.finish(session, scope=actor.label, key=key, result=result)
    return result, False


async def deposit_to_wallet(
    session: AsyncSession, actor: Actor, *, user_id: int, currency: str, amount: Decimal, idempotency_key: str,
    provider: str = "test", reference: str = "",
) -> Movement:
    """Money arrived at a PSP for the client: debit PSP clearing, credit the wallet."""
    code = currency_info(currency).code
    amount = positive(amount, code)
    payload = {"user_id": user_id, "currency": code, "amount": amount, "provider": provider, "reference": reference}

    async def work(settlement: Settlement) -> dict[str, Any]:
        wallet = await wallet_for(session, user_id, code)
        clearing = await house_account(session, Purpose.PSP_CLEARING, code, provider=provider)
        entry = await post(session, actor, [Leg(clearing, amount), Leg(wallet, -amount)], ref_kind="deposit",
                           ref_id=reference or idempotency_key, idempotency_key=entry_key(actor, idempotency_key),
                           description=f"deposit via {provider}", settles=settlement,
                           audit=lambda entry_id: audit.prepare(
                               actor, action="wallet.deposit", entity_type="ledger_entry", entity_id=entry_id,
                               after={"wallet_id": wallet.id, "amount": str(amount), "currency": code}))
        return {"entry_id": entry.id}

    result, replayed = await once(session, actor, idempotency_key, "deposit_to_wallet", payload, work, posts_first=True)
    return Movement(int(result["entry_id"]), replayed)


def _checked_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(f"a reason of 1 to {MAX_REASON} characters is required", field="reason")
    return reason


async def _adjustment_input(session: AsyncSession, wallet_id: int, amount: Decimal,
                            reason: str) -> tuple[AccountRef, Decimal, str]:
    reason = _checked_reason(reason)
    wallet = await get_wallet(session, wallet_id, owner_id=None)
    amount = quantize_exact(amount, wallet.currency, field="amount")
    if amount == 0:
        raise InvalidAmount("amount must not be zero", field="amount")
    return wallet, amount, reason


async def adjust_balance(
    session: AsyncSession, actor: Actor, *, wallet_id: int, amount: Decimal, reason: str, idempotency_key: str,
    allow_negative: bool = False,
) -> Movement:
    """Staff correction of a wallet (signed amount) against house equity, with a mandatory reason.

    Posts directly whatever the amount: the staff-facing entry point is `request_adjustment`, which
    sends adjustments above the four-eyes threshold for a second approval first."""
    wallet, amount, reason = await _adjustment_input(session, wallet_id, amount, reason)
    payload = {"wallet_id": wallet_id, "amount": amount, "reason": reason, "allow_negative": allow_negative}

    async def work(settlement: Settlement) -> dict[str, Any]:
        equity = await house_account(session, Purpose.HOUSE_EQUITY, wallet.currency)
        legs = [Leg(equity, amount), Leg(wallet, -amount, allow_negative=allow_negative)]
        entry = await post(session, actor, legs, ref_kind="adjustment", ref_id=idempotency_key,
                           idempotency_key=entry_key(actor, idempotency_key), description=reason, settles=settlement,
                           audit=lambda entry_id: audit.prepare(
                               actor, action="wallet.adjust", entity_type="ledger_entry", entity_id=entry_id,
                               after={"wallet_id": wallet.id, "amount": str(amount), "currency": wallet.currency,
                                      "allow_negative": allow_negative},
                               reason=reason, category="balance_adjustment"))
        return {"entry_id": entry.id}

    result, replayed = await once(session, actor, idempotency_key, "adjust_balance", payload, work, posts_first=True)
    return Movement(int(result["entry_id"]), replayed)


@dataclass(frozen=True)
class ExchangeTerms:
    """What an exchange posts: computed from a rate at once (exchange) or fixed by a quote."""

    src: str
    dst: str
    amount: Decimal  # sold, in src
    gross: Decimal  # amount at the mid rate, in dst
    bought: Decimal  # what the client receives, in dst
    mid: Decimal
    applied: Decimal
    markup: Decimal

    @property
    def fee(self) -> Decimal:
        return self.gross - self.bought


def exchange_terms(src: str, dst: str, amount: Decimal, mid: Decimal, markup: Decimal) -> ExchangeTerms:
    """Sell `amount` of src at the mid rate less the markup (amount already validated)."""
    gross = round_to(amount * mid, dst)
    bought = round_to(amount * mid * (1 - markup), dst)
    if bought <= 0:
        raise InvalidAmount("amount too small to exchange", field="amount")
    return ExchangeTerms(src, dst, amount, gross, bought, mid, (bought / amount).quantize(Decimal("1e-10")), markup)


def exchange_pair(from_currency: str, to_currency: str, amount: Decimal) -> tuple[str, str, Decimal]:
    src, dst = currency_info(from_currency).code, currency_info(to_currency).code
    if src == dst:
        raise CurrencyMismatch("choose two different currencies", field="toCurrency")
    return src, dst, positive(amount, src)


async def post_exchange(
    session: AsyncSession, actor: Actor, *, user_id: int, terms: ExchangeTerms, idempotency_key: str,
    settlement: Settlement, details: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Post an exchange at fixed terms: the markup is booked as broker revenue in the bought currency.
    The rate used (and `details`: its source, time, quote) is stored with the entry and audited."""
    src, dst, amount, bought, fee = terms.src, terms.dst, terms.amount, terms.bought, terms.fee
    source = await wallet_for(session, user_id, src)
    target = await wallet_for(session, user_id, dst)
    fx_src = await house_account(session, Purpose.FX, src)
    fx_dst = await house_account(session, Purpose.FX, dst)
    legs = [Leg(source, amount), Leg(fx_src, -amount), Leg(fx_dst, terms.gross), Leg(target, -bought)]
    if fee:
        legs.append(Leg(await house_account(session, Purpose.BROKER_REVENUE, dst), -fee))
    info = {"mid_rate": str(terms.mid), "applied_rate": str(terms.applied), "markup": str(terms.markup),
            "fee": str(fee), **(details or {})}
    settlement.extra = {"bought": str(bought), "mid_rate": str(terms.mid), "applied_rate": str(terms.applied),
                        "fee": str(fee)}
    entry = await post(session, actor, legs, ref_kind="exchange", ref_id=idempotency_key,
                       idempotency_key=entry_key(actor, idempotency_key),
                       description=f"exchange {src}->{dst}", details=info, settles=settlement,
                       audit=lambda entry_id: audit.prepare(
                           actor, action="wallet.exchange", entity_type="ledger_entry", entity_id=entry_id,
                           after={"sold": f"{amount} {src}", "bought": f"{bought} {dst}", **info}))
    from domain.compliance.aml import events as aml

    await aml.on_exchange(session, actor, user_id=user_id, subject=f"exchange:{entry.id}", amount=amount,
                          currency=src, to_currency=dst)
    return {"entry_id": entry.id, **settlement.extra}


def exchange_result(result: Mapping[str, Any], replayed: bool, src: str, dst: str, amount: Decimal) -> ExchangeResult:
    return ExchangeResult(
        entry_id=int(result["entry_id"]), replayed=replayed, sold=amount, sold_currency=src,
        bought=Decimal(result["bought"]), bought_currency=dst, mid_rate=Decimal(result["mid_rate"]),
        applied_rate=Decimal(result["applied_rate"]), fee=Decimal(result["fee"]),
    )


async def exchange(
    session: AsyncSession, actor: Actor, *, user_id: int, from_currency: str, to_currency: str, amount: Decimal,
    idempotency_key: str, rates: RateSource = DEFAULT_RATES, markup: Decimal = DEFAULT_EXCHANGE_MARKUP,
) -> ExchangeResult:
    """Exchange at once at a rate source's current mid rate less the markup (internal tools and tests;
    clients exchange through a quote they accept: domain.fx.quotes)."""
    src, dst, amount = exchange_pair(from_currency, to_currency, amount)
    payload = {"user_id": user_id, "from": src, "to": dst, "amount": amount}

    async def work(settlement: Settlement) -> dict[str, Any]:
        terms = exchange_terms(src, dst, amount, await rates.mid_rate(src, dst), markup)
        return await post_exchange(session, actor, user_id=user_id, terms=terms, idempotency_key=idempotency_key,
                                   settlement=settlement)

    result, replayed = await once(session, actor, idempotency_key, "exchange", payload, work, posts_first=True)
    return exchange_result(result, replayed, src, dst, amount)


async def wallet_transfer(
    session: AsyncSession, actor: Actor, *, from_wallet_id: int, to_wallet_id: int, amount: Decimal,
    idempotency_key: str, owner_id: int | None,
) -> Movement:
    """Move money between two wallets in the same currency (both the owner's when owner_id is given)."""
    source = await get_wallet(session, from_wallet_id, owner_id=owner_id)
    target = await get_wallet(session, to_wallet_id, owner_id=owner_id)
    if source.id == target.id:
        raise ValidationFailed("choose two different wallets", field="toWalletId")
    if source.currency != target.currency:
        raise CurrencyMismatch("wallets differ in currency: use exchange", field="toWalletId")
    amount = positive(amount, source.currency)
    payload = {"from": source.id, "to": target.id, "amount": amount}

    async def work(settlement: Settlement) -> dict[str, Any]:
        entry = await post(session, actor, [Leg(source, amount), Leg(target, -amount)], ref_kind="transfer",
                           ref_id=idempotency_key, idempotency_key=entry_key(actor, idempotency_key),
                           description="wallet to wallet", settles=settlement,
                           audit=lambda entry_id: audit.prepare(
                               actor, action="wallet.transfer", entity_type="ledger_entry", entity_id=entry_id,
                               after={"from": source.id, "to": target.id, "amount": str(amount)}))
        from domain.compliance.aml import events as aml

        if source.owner_id is not None:
            await aml.on_transfer(session, actor, user_id=source.owner_id, subject=f"wallet_transfer:{entry.id}",
                                  kind="wallet_to_wallet", amount=amount, currency=source.currency)
        return {"entry_id": entry.id}

    result, replayed = await once(session, actor, idempotency_key, "wallet_transfer", payload, work, posts_first=True)
    return Movement(int(result["entry_id"]), replayed)


async def reverse(
    session: AsyncSession, actor: Actor, *, entry_id: int, reason: str, idempotency_key: str,
    allow_negative: bool = False,
) -> Movement:
    """Staff correction: post the reversing entry of `entry_id` (at most once)."""
    from domain.ledger.posting import reverse_entry

    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(f"a reason of 1 to {MAX_REASON} characters is required", field="reason")
    payload = {"entry_id": entry_id, "reason": reason, "allow_negative": allow_negative}

    async def work(settlement: Settlement) -> dict[str, Any]:
        entry = await reverse_entry(session, actor, entry_id, reason=reason,
                                    idempotency_key=entry_key(actor, idempotency_key), allow_negative=allow_negative,
                                    settles=settlement)
        await audit.record(session, actor, action="ledger.reverse", entity_type="ledger_entry", entity_id=entry.id,
                           after={"reverses": entry_id, "allow_negative": allow_negative}, reason=reason,
                           category="balance_adjustment")
        return {"entry_id": entry.id}

    result, replayed = await once(session, actor, idempotency_key, "reverse_entry", payload, work)
    return Movement(int(result["entry_id"]), replayed)


@dataclass(frozen=True)
class WalletTransaction:
    id: int  # the posting id
    entry_id: int
    created_at: datetime
    amount: Decimal  # signed as the client sees it: + money in, - money out
    currency: str
    kind: str
    reference: str
    description: str


async def wallet_transactions(
    session: AsyncSession, wallet: AccountRef, page: PageRequest, *,
    kinds: list[str] | None = None, since: datetime | None = None, until: datetime | None = None,
) -> Page[WalletTransaction]:
    """A wallet's postings, newest first, keyset-paginated on (created_at, id)."""
    where = ["p.account_id = :acc"]
    params: dict[str, Any] = {"acc": wallet.id}
    if kinds:
        where.append("e.ref_kind = ANY(CAST(:kinds AS text[]))")
        params["kinds"] = kinds
    if since is not None:
        where.append("p.created_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("p.created_at < :until")
        params["until"] = until
    return await sql_page(  # the WHERE parts are constants; values are bound
        session, page, columns="p.id, p.entry_id, p.created_at, p.amount, p.currency, e.ref_kind, e.ref_id, "
                               "e.description",
        source="ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id", where=where, params=params,
        key=("p.created_at", "p.id"), descending=True,
        convert=lambda r: _transaction(r, wallet.sign))


def _transaction(r: Any, sign: int) -> WalletTransaction:
    return WalletTransaction(int(r.id), int(r.entry_id), r.created_at, round_to(Decimal(r.amount) * sign, r.currency),
                             r.currency, r.ref_kind, r.ref_id, r.description)


async def transactions_by_ids(session: AsyncSession, ids: list[int], *, owner_id: int) -> dict[int, WalletTransaction]:
    """The owner's wallet postings among `ids` (any other posting is absent), signed as walletTransactions shows
    them, one statement."""
    rows = (await session.execute(text(
        "SELECT p.id, p.entry_id, p.created_at, p.amount, p.currency, e.ref_kind, e.ref_id, e.description, a.type "
        "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
        "JOIN ledger_accounts a ON a.id = p.account_id "
        "WHERE p.id = ANY(:ids) AND a.owner_id = :uid AND a.purpose = 'client_wallet'"),
        {"ids": ids, "uid": owner_id})).all()
    debit_normal = {AccountType.ASSET.value, AccountType.EXPENSE.value}
    return {int(r.id): _transaction(r, 1 if r.type in debit_normal else -1) for r in rows}


# --- four-eyes staff adjustments ---------------------------------------------------------------------------------

ADJUST_FOUR_EYES_DEFAULT = Decimal("1000")
ADJUST_FLOW = "balance_adjustment"


class AdjustmentNotFound(NotFound):
    code = "BALANCE_ADJUSTMENT_NOT_FOUND"


class AdjustmentNotPending(Conflict):
    code = "BALANCE_ADJUSTMENT_NOT_PENDING"


class AdjustmentSelfApproval(PermissionDenied):
    code = "SELF_APPROVAL_FORBIDDEN"


def adjustment_threshold(currency: str) -> Decimal:
    """Adjustments whose absolute amount, with what the requester or anyone on this client adjusted
    alone within the four-eyes window, is above this (in the wallet's currency) need a second staff
    member.

    FOREXCRM_LEDGER_ADJUST_FOUR_EYES_<CURRENCY>, else FOREXCRM_LEDGER_ADJUST_FOUR_EYES, else 1000."""
    raw = (os.environ.get(f"FOREXCRM_LEDGER_ADJUST_FOUR_EYES_{currency.upper()}")
           or os.environ.get("FOREXCRM_LEDGER_ADJUST_FOUR_EYES"))
    return Decimal(raw) if raw else ADJUST_FOUR_EYES_DEFAULT


@dataclass(frozen=True)
class AdjustmentRequest:
    id: int
    wallet_id: int
    amount: Decimal
    currency: str
    reason: str
    allow_negative: bool
    status: str  # pending | approved | rejected
    requested_by: int
    decided_by: int | None
    decision_reason: str | None
    entry_id: int | None
    created_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class AdjustmentOutcome:
    """Either the posted movement (at or below the threshold) or the pending request."""

    movement: Movement | None = None
    request: AdjustmentRequest | None = None

    @property
    def pending(self) -> bool:
        return self.request is not None and self.request.status == "pending"


_REQ_COLS = ("id, wallet_id, amount, currency, reason, allow_negative, status, requested_by, decided_by, "
             "decision_reason, entry_id, created_at, decided_at")


def _request(r: Any) -> AdjustmentRequest:
    m = dict(r._mapping)
    m["amount"] = Decimal(m["amount"])
    return AdjustmentRequest(**m)


async def _get_request(session: AsyncSession, request_id: int, *, lock: bool = False) -> AdjustmentRequest:
    row = (await session.execute(text(
        f"SELECT {_REQ_COLS} FROM balance_adjustment_requests WHERE id = :id"  # noqa: S608
        + (" FOR UPDATE" if lock else "")), {"id": request_id})).first()
    if row is None:
        raise AdjustmentNotFound("no such balance adjustment", field="id")
    return _request(row)


async def adjustments_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, AdjustmentRequest]:
    """Adjustment requests by id, any status (one statement)."""
    rows = (await session.execute(text(
        f"SELECT {_REQ_COLS} FROM balance_adjustment_requests WHERE id = ANY(:ids)"),  # noqa: S608
        {"ids": ids})).all()
    return {r.id: r for r in (_request(row) for row in rows)}


def _staff_id(actor: Actor) -> int:
    if actor.user_id is None:
        raise PermissionDenied("a signed-in staff member is required")
    return actor.user_id


async def request_adjustment(
    session: AsyncSession, actor: Actor, *, wallet_id: int, amount: Decimal, reason: str, idempotency_key: str,
    allow_negative: bool = False,
) -> AdjustmentOutcome:
    """A staff adjustment: posted at once while it and what the requester (or anyone, on this client)
    adjusted alone within the four-eyes window stay at or below the threshold, else a pending
    request that a different, unrelated staff member with ledger.adjust approves (then it posts) or
    rejects.

    Idempotent per (requester, key): a repeat returns the same posting or request; a different
    payload under the same key is refused."""
    wallet, amount, reason = await _adjustment_input(session, wallet_id, amount, reason)
    requester = _staff_id(actor)
    key = idempotency_key.strip()
    if not key or len(key) > 200:
        raise ValidationFailed("an idempotency key of 1 to 200 characters is required", field="idempotencyKey")
    # Locked first, so a concurrent repeat of this key sees what the first call did (posting or request).
    await four_eyes.lock_parties(session, flow=ADJUST_FLOW, initiator=requester, client=wallet.owner_id)
    earlier = await _request_by_key(session, requester, key)
    if earlier is not None:
        return AdjustmentOutcome(request=_same_request(earlier, wallet.id, amount, reason, allow_negative))
    solo_payload = {"wallet_id": wallet_id, "amount": amount, "reason": reason, "allow_negative": allow_negative}
    # A repeat of an adjustment that posted alone replays it, whatever the window holds by now.
    posted = await idempotency.peek(session, scope=actor.label, key=key, operation="adjust_balance",
                                    payload=solo_payload)
    threshold = adjustment_threshold(wallet.currency)
    own_wallet = wallet.owner_id == requester  # staff crediting themselves always need a second person
    if posted is not None or (not own_wallet and not await four_eyes.needs_second_approver(
            session, flow=ADJUST_FLOW, initiator=requester, client=wallet.owner_id, currency=wallet.currency,
            amount=amount, threshold=threshold, inclusive=False)):
        movement = await adjust_balance(session, actor, wallet_id=wallet_id, amount=amount, reason=reason,
                                        idempotency_key=key, allow_negative=allow_negative)
        if not movement.replayed:
            await four_eyes.record_solo(session, flow=ADJUST_FLOW, ref=f"entry:{movement.entry_id}",
                                        initiator=requester, client=wallet.owner_id, currency=wallet.currency,
                                        amount=amount)
        return AdjustmentOutcome(movement=movement)
    row = (await session.execute(text(
        "INSERT INTO balance_adjustment_requests (wallet_id, amount, currency, reason, allow_negative, "  # noqa: S608
        "idempotency_key, requested_by) VALUES (:w, :a, :c, :r, :n, :k, :u) "
        f"ON CONFLICT (requested_by, idempotency_key) DO NOTHING RETURNING {_REQ_COLS}"),
        {"w": wallet.id, "a": amount, "c": wallet.currency, "r": reason, "n": allow_negative, "k": key,
         "u": requester})).first()
    if row is None:  # a concurrent repeat won the key
        raced = await _request_by_key(session, requester, key)
        assert raced is not None
        return AdjustmentOutcome(request=_same_request(raced, wallet.id, amount, reason, allow_negative))
    made = _request(row)
    await audit.record(session, actor, action="wallet.adjust_requested", entity_type="balance_adjustment_request",
                       entity_id=made.id, after={"wallet_id": wallet.id, "amount": str(amount),
                                                 "currency": wallet.currency, "allow_negative": allow_negative,
                                                 "threshold": str(threshold),
                                                 "window_s": four_eyes.window_s()},
                       reason=reason, category="balance_adjustment")
    return AdjustmentOutcome(request=made)


async def _request_by_key(session: AsyncSession, requester: int, key: str) -> AdjustmentRequest | None:
    row = (await session.execute(text(
        f"SELECT {_REQ_COLS} FROM balance_adjustment_requests "  # noqa: S608
        "WHERE requested_by = :u AND idempotency_key = :k"), {"u": requester, "k": key})).first()
    return None if row is None else _request(row)


def _same_request(earlier: AdjustmentRequest, wallet_id: int, amount: Decimal, reason: str,
                  allow_negative: bool) -> AdjustmentRequest:
    if (earlier.wallet_id, earlier.amount, earlier.reason, earlier.allow_negative) != (
            wallet_id, amount, reason, allow_negative):
        raise IdempotencyKeyReused("this idempotency key was used for a different adjustment",
                                   field="idempotencyKey")
    return earlier


async def approve_adjustment(session: AsyncSession, actor: Actor, request_id: int) -> AdjustmentRequest:
    """The second staff member approves: the adjustment posts (once) and the request is closed."""
    approver = _staff_id(actor)
    req = await _get_request(session, request_id, lock=True)
    if req.status != "pending":
        raise AdjustmentNotPending(f"this adjustment is already {req.status}", field="id")
    wallet = await get_wallet(session, req.wallet_id, owner_id=None)
    if approver in (req.requested_by, wallet.owner_id):
        raise AdjustmentSelfApproval("the requester (or the wallet's owner) cannot approve this adjustment",
                                     field="id")
    await four_eyes.require_independent(session, approver, [req.requested_by, wallet.owner_id])
    equity = await house_account(session, Purpose.HOUSE_EQUITY, wallet.currency)
    ref = f"adjustment-request:{req.id}"
    entry = await post(session, actor, [Leg(equity, req.amount),
                                        Leg(wallet, -req.amount, allow_negative=req.allow_negative)],
                       ref_kind="adjustment", ref_id=ref, idempotency_key=ref, description=req.reason,
                       details={"requested_by": req.requested_by, "approved_by": approver})
    row = (await session.execute(text(
        "UPDATE balance_adjustment_requests SET status = 'approved', decided_by = :u, decided_at = now(), "  # noqa: S608
        f"entry_id = :e WHERE id = :id RETURNING {_REQ_COLS}"), {"u": approver, "e": entry.id, "id": req.id})).one()
    await audit.record(session, actor, action="wallet.adjust", entity_type="ledger_entry", entity_id=entry.id,
                       after={"wallet_id": wallet.id, "amount": str(req.amount), "currency": wallet.currency,
                              "allow_negative": req.allow_negative, "request_id": req.id,
                              "requested_by": req.requested_by, "approved_by": approver},
                       reason=req.reason, category="balance_adjustment")
    await audit.record(session, actor, action="wallet.adjust_approved", entity_type="balance_adjustment_request",
                       entity_id=req.id, before={"status": "pending"},
                       after={"status": "approved", "entry_id": entry.id}, category="balance_adjustment")
    return _request(row)


async def reject_adjustment(session: AsyncSession, actor: Actor, request_id: int, reason: str) -> AdjustmentRequest:
    """Reject a pending adjustment (nothing posts). The requester may withdraw their own request."""
    decider = _staff_id(actor)
    reason = _checked_reason(reason)
    req = await _get_request(session, request_id, lock=True)
    if req.status != "pending":
        raise AdjustmentNotPending(f"this adjustment is already {req.status}", field="id")
    row = (await session.execute(text(
        "UPDATE balance_adjustment_requests SET status = 'rejected', decided_by = :u, decided_at = now(), "  # noqa: S608
        f"decision_reason = :r WHERE id = :id RETURNING {_REQ_COLS}"), {"u": decider, "r": reason, "id": req.id})).one()
    await audit.record(session, actor, action="wallet.adjust_rejected", entity_type="balance_adjustment_request",
                       entity_id=req.id, before={"status": "pending"},
                       after={"status": "rejected", "withdrawn_by_requester": decider == req.requested_by},
                       reason=reason, category="balance_adjustment")
    return _request(row)


async def pending_adjustments(session: AsyncSession, page: PageRequest) -> Page[AdjustmentRequest]:
    """Adjustments awaiting a second staff member, oldest first."""
    return await sql_page(session, page, columns=_REQ_COLS, source="balance_adjustment_requests",
                          where=["status = 'pending'"], params={}, key=("created_at", "id"), descending=False,
                          convert=_request)
