"""The bank account a wire method's deposits are paid into (payments.methods.manage): IBAN, BIC, the
beneficiary's name and address and the bank's name, per payment method rule of kind wire. Shown to a
client with a wire deposit's payment reference (`Payment.wireInstructions`). Validated whole before
anything is written (the IBAN's ISO 13616 check digits, the BIC's ISO 9362 shape), and audited.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.payments.errors import InvalidBic, InvalidIban, InvalidPaymentMethod, PaymentMethodNotFound
from domain.payments.method_admin import rule_for
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed

_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")  # 15 (Norway) to 34 characters
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")  # bank, country, location, branch
MAX_NAME, MAX_ADDRESS = 140, 300


@dataclass(frozen=True)
class BankDetails:
    iban: str
    bic: str
    beneficiary_name: str
    beneficiary_address: str
    bank_name: str


def iban_valid(iban: str) -> bool:
    """ISO 13616: the country and check digits moved to the end, letters as 10..35, the number mod 97 is 1."""
    if not _IBAN.match(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def validate(details: BankDetails) -> BankDetails:
    """The details normalised (IBAN and BIC without spaces, upper case), or a typed refusal naming the field."""
    iban = re.sub(r"\s+", "", details.iban).upper()
    if not iban_valid(iban):
        raise InvalidIban("not a valid IBAN (country, check digits and account; the check digits must match)",
                          field="iban")
    bic = re.sub(r"\s+", "", details.bic).upper()
    if not _BIC.match(bic):
        raise InvalidBic("a BIC is 8 or 11 letters and digits: bank (4 letters), country (2), location (2), "
                         "branch (3, optional)", field="bic")
    if bic[4:6] != iban[:2]:
        raise InvalidBic(f"the BIC's country {bic[4:6]} is not the IBAN's {iban[:2]}", field="bic")
    texts = {}
    for name, field, limit in (("beneficiary_name", "beneficiaryName", MAX_NAME),
                               ("beneficiary_address", "beneficiaryAddress", MAX_ADDRESS),
                               ("bank_name", "bankName", MAX_NAME)):
        value = " ".join(getattr(details, name).split())
        if not value or len(value) > limit:
            raise ValidationFailed(f"1 to {limit} characters", field=field)
        texts[name] = value
    return BankDetails(iban=iban, bic=bic, **texts)


_COLS = "iban, bic, beneficiary_name, beneficiary_address, bank_name"


async def set_for_method(session: AsyncSession, actor: Actor, rule_id: int, details: BankDetails) -> BankDetails:
    """Set (or replace) the account of a wire method rule; other kinds of methods have none."""
    clean = validate(details)
    try:
        rule = await rule_for(session, rule_id, lock=True)
    except PaymentMethodNotFound as exc:  # named after this mutation's argument
        raise PaymentMethodNotFound("no such payment method", field="methodId") from exc
    if rule.kind != "wire":
        raise InvalidPaymentMethod(f"{rule.code} is a {rule.kind} method; only wire methods have bank details",
                                   field="methodId")
    before = await for_method(session, rule_id)
    if before == clean:
        return clean  # nothing changes, nothing to audit
    await session.execute(text(
        f"INSERT INTO payment_method_bank_details (method_id, {_COLS}, updated_by) VALUES (:id, :iban, :bic, "  # noqa: S608
        ":beneficiary_name, :beneficiary_address, :bank_name, :by) ON CONFLICT (method_id) DO UPDATE SET "
        "iban = EXCLUDED.iban, bic = EXCLUDED.bic, beneficiary_name = EXCLUDED.beneficiary_name, "
        "beneficiary_address = EXCLUDED.beneficiary_address, bank_name = EXCLUDED.bank_name, "
        "updated_by = EXCLUDED.updated_by, updated_at = now()"),
        {"id": rule_id, "by": actor.user_id, **asdict(clean)})
    await record(session, actor, action="payment_method.bank_details_set", entity_type="payment_method",
                 entity_id=rule_id, before=asdict(before) if before else None, after=asdict(clean),
                 category="payments")
    return clean


async def for_method(session: AsyncSession, rule_id: int) -> BankDetails | None:
    row = (await session.execute(text(
        f"SELECT {_COLS} FROM payment_method_bank_details WHERE method_id = :id"), {"id": rule_id})).first()  # noqa: S608
    return BankDetails(**row._mapping) if row is not None else None


async def for_methods(session: AsyncSession, rule_ids: list[int]) -> dict[int, BankDetails]:
    rows = (await session.execute(text(
        f"SELECT method_id, {_COLS} FROM payment_method_bank_details WHERE method_id = ANY(:ids)"),  # noqa: S608
        {"ids": rule_ids})).all()
    return {int(r.method_id): BankDetails(r.iban, r.bic, r.beneficiary_name, r.beneficiary_address, r.bank_name)
            for r in rows}


async def for_payment(session: AsyncSession, code: str, currency: str, country: str | None) -> BankDetails | None:
    """The account a wire payment is paid into: its method's rule for the payment's country if that rule has
    one, else the method's default ('*') rule's."""
    row = (await session.execute(text(
        "SELECT d.iban, d.bic, d.beneficiary_name, d.beneficiary_address, d.bank_name "
        "FROM payment_method_bank_details d JOIN payment_methods m ON m.id = d.method_id "
        "WHERE m.code = :code AND m.currency = :cur AND m.kind = 'wire' AND m.country IN (:country, '*') "
        "ORDER BY (m.country = '*') LIMIT 1"), {"code": code, "cur": currency, "country": country or "*"})).first()
    return BankDetails(**row._mapping) if row is not None else None
