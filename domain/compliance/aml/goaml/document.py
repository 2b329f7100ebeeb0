"""A goAML STR/SAR document from plain data (no database here), and its validation against the FIU's XSD.

The client appears as a `t_person` on the side of each transaction that is theirs at the brokerage (the
receiving side of a deposit, the sending side of a withdrawal); the other side is the payer or payee the
payment names (the client when it names nobody else). A transfer between the client's wallet and trading
account has the client on both sides. Amounts in another currency than the reporting
entity's local one carry `*_foreign_currency` (the amount at its currency's scale and the rate used),
`amount_local` the converted amount at the local currency's scale; goAML has no currency code for crypto-assets,
so their amount and rate go into the funds comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from domain.compliance.aml.goaml.schema import enumeration, schema
from domain.compliance.errors import GoamlInvalid
from domain.shared.money import at_scale, money_text
from domain.shared.xsd import validate_tree

# method kind -> (funds code on the payment side, conduction code): card, wire, crypto, local methods
METHOD_CODES: dict[str, tuple[str, str]] = {
    "card": ("CRTCR", "CCD"), "wire": ("ELCFT", "SWIFT"), "crypto": ("CRPTC", "ELCFT"), "local": ("ELCFT", "ONBNK"),
}
# A transfer between the client's wallet and trading account (ledger_transfers.direction): (from, to)
TRANSFER_SIDES: dict[str, tuple[str, str]] = {"to_account": ("wallet", "trading account"),
                                              "from_account": ("trading account", "wallet")}
BROKER_FUNDS = "B"  # electronic funds transfer (the UN default) on the brokerage account's side


@dataclass(frozen=True)
class Entity:
    rentity_id: int
    branch: str | None
    name: str
    local_currency: str
    country: str
    address: str
    city: str
    contact_first_name: str
    contact_last_name: str
    contact_email: str | None
    contact_occupation: str | None


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    birthdate: date | None = None
    nationality: str | None = None
    residence: str | None = None
    phone: str | None = None
    address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    email: str | None = None
    occupation: str | None = None
    tax_number: str | None = None


@dataclass(frozen=True)
class Transaction:
    number: str
    internal_ref: str
    direction: str  # deposit | withdrawal | to_account | from_account (a transfer, TRANSFER_SIDES)
    method_kind: str
    method_code: str
    provider: str
    status: str
    at: datetime
    currency: str
    amount: Decimal
    amount_local: Decimal
    rate: Decimal  # local units per one unit of `currency`
    counterparty: Person
    counterparty_country: str


@dataclass(frozen=True)
class Report:
    code: str  # STR | SAR
    entity_reference: str
    submitted_at: datetime
    reason: str
    action: str
    indicators: tuple[str, ...]
    subject: Person
    subject_country: str
    transactions: tuple[Transaction, ...]


def _sql_date(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0).isoformat()
    return f"{value.isoformat()}T00:00:00"


def _add(parent: etree._Element, tag: str, value: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, tag)
    if value is not None:
        node.text = value
    return node


def _opt(parent: etree._Element, tag: str, value: str | None) -> None:
    if value:
        _add(parent, tag, value)


def _person(parent: etree._Element, tag: str, p: Person) -> None:
    node = _add(parent, tag)
    _add(node, "first_name", p.first_name)
    _add(node, "last_name", p.last_name)
    if p.birthdate is not None:
        _add(node, "birthdate", _sql_date(p.birthdate))
    _opt(node, "nationality1", p.nationality)
    _opt(node, "residence", p.residence)
    if p.phone:
        phone = _add(_add(node, "phones"), "phone")
        _add(phone, "tph_contact_type", "PRIVT")
        _add(phone, "tph_communication_type", "M")
        _add(phone, "tph_number", p.phone)
    if p.address and p.city and p.country:
        address = _add(_add(node, "addresses"), "address")
        _add(address, "address_type", "RES")
        _add(address, "address", p.address)
        _add(address, "city", p.city)
        _opt(address, "zip", p.postal_code)
        _add(address, "country_code", p.country)
        _add(address, "state", "-")
    _opt(node, "email", p.email)
    _opt(node, "occupation", p.occupation)
    _opt(node, "tax_number", p.tax_number)


def _side(parent: etree._Element, tag: str, prefix: str, funds: str, txn: Transaction, local: str, who: Person,
          country: str) -> None:
    node = _add(parent, tag)
    _add(node, f"{prefix}_funds_code", funds)
    amount = money_text(at_scale(txn.amount, txn.currency))
    if txn.currency not in enumeration("currency_type"):
        # goAML has no code for crypto-assets: the amount and the rate used go into the funds comment, the
        # value in the local currency into amount_local
        _add(node, f"{prefix}_funds_comment",
             f"{amount} {txn.currency} at {format(txn.rate.normalize(), 'f')} {local} per {txn.currency}"[:255])
    elif txn.currency != local:
        foreign = _add(node, f"{prefix}_foreign_currency")
        _add(foreign, "foreign_currency_code", txn.currency)
        _add(foreign, "foreign_amount", amount)
        _add(foreign, "foreign_exchange_rate", format(txn.rate.normalize(), "f"))
    _person(node, f"{prefix}_person", who)
    _add(node, f"{prefix}_country", country)


def _transaction(root: etree._Element, txn: Transaction, report: Report, local: str) -> None:
    node = _add(root, "transaction")
    _add(node, "transactionnumber", txn.number)
    _add(node, "internal_ref_number", txn.internal_ref)
    _add(node, "transaction_location", "Online, client portal")
    amount = f"{money_text(at_scale(txn.amount, txn.currency))} {txn.currency}"
    if txn.direction in TRANSFER_SIDES:
        sides = TRANSFER_SIDES[txn.direction]
        _add(node, "transaction_description", f"transfer of {amount} from the client's {sides[0]} to their "
                                              f"{sides[1]} (trading account {txn.method_code}), status {txn.status}")
    else:
        _add(node, "transaction_description", f"{txn.direction} of {amount} by {txn.method_kind} "
                                              f"({txn.method_code}) through {txn.provider}, status {txn.status}")
    _add(node, "date_transaction", _sql_date(txn.at))
    funds, transmode = METHOD_CODES.get(txn.method_kind, ("ELCFT", "ELCFT"))
    _add(node, "transmode_code", transmode)
    _add(node, "transmode_comment", "-")
    _add(node, "amount_local", money_text(at_scale(txn.amount_local, local)))
    if txn.direction in TRANSFER_SIDES:  # the client's money on both sides, within the brokerage
        _side(node, "t_from", "from", BROKER_FUNDS, txn, local, report.subject, report.subject_country)
        _side(node, "t_to", "to", BROKER_FUNDS, txn, local, report.subject, report.subject_country)
    elif txn.direction == "deposit":
        _side(node, "t_from", "from", funds, txn, local, txn.counterparty, txn.counterparty_country)
        _side(node, "t_to", "to", BROKER_FUNDS, txn, local, report.subject, report.subject_country)
    else:
        _side(node, "t_from", "from", BROKER_FUNDS, txn, local, report.subject, report.subject_country)
        _side(node, "t_to", "to", funds, txn, local, txn.counterparty, txn.counterparty_country)


def build(entity: Entity, report: Report) -> etree._Element:
    root = etree.Element("report")
    _add(root, "rentity_id", str(entity.rentity_id))
    _opt(root, "rentity_branch", entity.branch)
    _add(root, "submission_code", "E")
    _add(root, "report_code", report.code)
    _add(root, "entity_reference", report.entity_reference)
    _add(root, "submission_date", _sql_date(report.submitted_at))
    _add(root, "currency_code_local", entity.local_currency)
    person = _add(root, "reporting_person")
    _add(person, "first_name", entity.contact_first_name)
    _add(person, "last_name", entity.contact_last_name)
    _opt(person, "email", entity.contact_email)
    _opt(person, "occupation", entity.contact_occupation)
    location = _add(root, "location")
    _add(location, "address_type", "BU")
    _add(location, "address", entity.address)
    _add(location, "city", entity.city)
    _add(location, "country_code", entity.country)
    _add(location, "state", "-")
    _add(root, "reason", report.reason)
    _opt(root, "action", report.action)
    for txn in report.transactions:
        _transaction(root, txn, report, entity.local_currency)
    indicators = _add(root, "report_indicators")
    for code in report.indicators:
        _add(indicators, "indicator", code)
    return root


def serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def validate(root: etree._Element) -> None:
    """Raise GOAML_SCHEMA_INVALID, one error per XSD message (field: the element's path, e.g.
    `report/transaction[2]/t_to/to_person/first_name`), when the document does not fit the schema."""
    validate_tree(schema(), root, GoamlInvalid)


def build_valid(entity: Entity, report: Report) -> bytes:
    """The document, validated, as UTF-8 bytes."""
    root = build(entity, report)
    validate(root)
    return serialize(root)
