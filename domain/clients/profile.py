"""Personal (and corporate) profile data, validated: ISO countries (pycountry), phone numbers
(phonenumbers, stored E.164), age of majority by country, tax residency, employment and source
of funds, and optionally the nationality (identity data: kept in the profile, so sealed and audited
with it). A complete profile moves an email-verified client to profile_complete.

Corporate clients also give the company (name, ISO country of registration, registration number,
date of incorporation) and its directors; each director is validated like a person (name, adult
on a known date of birth, ISO nationality) and screened like one (domain.compliance.screening)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.config import country_code
from domain.clients.errors import InvalidPhone, JurisdictionNotServed, UnderAge
from domain.clients.models import Client, Jurisdiction
from domain.clients.status import EDITABLE, Status, require_status, transition
from domain.retention.identity import identity_of, seal_identity, sealed_for_audit
from domain.shared.actor import Actor
from domain.shared.errors import FieldErrors, ValidationFailed
from domain.shared.settings import Settings

# Where the age of majority differs from 18 (civil-law majority; contracts below it are voidable).
AGE_OF_MAJORITY: dict[str, int] = {"AE": 21, "BH": 21, "CM": 21, "CI": 21, "EG": 21, "GA": 21, "KW": 21,
                                   "LS": 21, "MG": 21, "NA": 21, "SG": 21, "SZ": 21, "KR": 19, "DZ": 19,
                                   "NE": 21, "PR": 21, "TH": 20, "TW": 18, "NZ": 20}
EMPLOYMENT = ("employed", "self_employed", "unemployed", "retired", "student")
SOURCES_OF_FUNDS = ("salary", "savings", "investments", "business", "inheritance", "pension", "other")
MAX_DIRECTORS = 20
# Registry numbers across registries: "HRB 12345 B", "SC123456", "2019/123456/07", "C-12345.01".
REGISTRATION_NUMBER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ./-]{0,58}[A-Za-z0-9])?")
EARLIEST_INCORPORATION = date(1600, 1, 1)


@dataclass(frozen=True)
class TaxResidency:
    country: str
    tin: str


@dataclass(frozen=True)
class Director:
    first_name: str
    last_name: str
    date_of_birth: date | None = None
    country: str | None = None


@dataclass(frozen=True)
class Company:
    name: str
    registration_number: str
    country: str
    directors: list[Director] = field(default_factory=list)
    incorporated_on: date | None = None


@dataclass(frozen=True)
class ProfileInput:
    first_name: str
    last_name: str
    date_of_birth: date
    country: str
    phone: str
    address_line: str
    city: str
    postal_code: str
    tax_residencies: list[TaxResidency]
    employment_status: str
    source_of_funds: str
    occupation: str = ""
    company: Company | None = None
    nationality: str | None = None  # ISO 3166; screening's and goAML's nationality (else the residence stands in)


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _required(value: str, name: str, limit: int = 100) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > limit:
        raise ValidationFailed(f"{name} is required (at most {limit} characters)", field=name)
    return cleaned


def _phone(number: str, country: str) -> str:
    try:
        parsed = phonenumbers.parse(number, country)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("not a phone number", field="phone") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("not a valid phone number", field="phone")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


async def validate(session: AsyncSession, data: ProfileInput, today: date,
                   form: FieldErrors | None = None) -> dict[str, Any]:
    """The profile to store; every field at fault is reported at once (into `form` when given,
    which the caller then raises; raised here otherwise)."""
    own = form is None
    form = form if form is not None else FieldErrors()
    country = form.take(lambda: country_code(data.country))
    given_nationality = data.nationality
    nationality = form.take(lambda: country_code(given_nationality, "nationality")) if given_nationality else None
    if country is not None:
        served = await session.get(Jurisdiction, country)
        if served is None or not served.served:
            form.add(JurisdictionNotServed(f"we do not accept clients from {country}", field="country"))
    majority = AGE_OF_MAJORITY.get(country or "", 18)
    if data.date_of_birth > today or age_on(data.date_of_birth, today) < majority:
        form.add(UnderAge(f"clients in {country or 'your country'} must be at least {majority}", field="dateOfBirth"))
    elif age_on(data.date_of_birth, today) > 120:
        form.add(ValidationFailed("date of birth is not plausible", field="dateOfBirth"))
    if data.employment_status not in EMPLOYMENT:
        form.add(ValidationFailed(f"employment status is one of {', '.join(EMPLOYMENT)}", field="employmentStatus"))
    if data.source_of_funds not in SOURCES_OF_FUNDS:
        form.add(ValidationFailed(f"source of funds is one of {', '.join(SOURCES_OF_FUNDS)}", field="sourceOfFunds"))
    if not data.tax_residencies:
        form.add(ValidationFailed("at least one tax residency is required", field="taxResidencies"))
    taxes = [{"country": form.take(lambda t=t: country_code(t.country, "taxResidencies.country")),  # type: ignore[misc]
              "tin": form.take(lambda t=t: _required(t.tin, "taxResidencies.tin", 40))}  # type: ignore[misc]
             for t in data.tax_residencies]
    phone = form.take(lambda: _phone(data.phone, country)) if country is not None else None
    address = {"line": form.take(lambda: _required(data.address_line, "addressLine", 200)),
               "city": form.take(lambda: _required(data.city, "city")),
               "postal_code": form.take(lambda: _required(data.postal_code, "postalCode", 20)), "country": country}
    company = data.company
    company_data = form.take(lambda: _company(company, today)) if company is not None else None
    if own:
        form.raise_if_any()
    profile: dict[str, Any] = {
        "phone": phone, "address": address, "tax_residencies": taxes, "employment_status": data.employment_status,
        "source_of_funds": data.source_of_funds, "occupation": data.occupation.strip()[:100],
    }
    if nationality is not None:
        profile["nationality"] = nationality
    if company_data is not None:
        profile["company"] = company_data
    return profile


def _company(c: Company, today: date) -> dict[str, Any]:
    form = FieldErrors()
    name = form.take(lambda: _required(c.name, "company.name", 200))
    country = form.take(lambda: country_code(c.country, "company.country"))
    number = " ".join(c.registration_number.split()).upper()
    if not REGISTRATION_NUMBER.fullmatch(number) or not any(ch.isdigit() for ch in number):
        form.add(ValidationFailed("the registration number has letters, digits, spaces, '.', '/' or '-' and at least "
                                  "one digit (at most 60 characters)", field="company.registrationNumber"))
    if c.incorporated_on is not None and not EARLIEST_INCORPORATION <= c.incorporated_on <= today:
        form.add(ValidationFailed("the date of incorporation must be a past date", field="company.incorporatedOn"))
    if not c.directors:
        form.add(ValidationFailed("a company needs at least one director", field="company.directors"))
    if len(c.directors) > MAX_DIRECTORS:
        form.add(ValidationFailed(f"at most {MAX_DIRECTORS} directors", field="company.directors"))
    directors = [form.take(lambda d=d: _director(d, today)) for d in c.directors]  # type: ignore[misc]
    form.raise_if_any()
    names = [(d["first_name"].casefold(), d["last_name"].casefold(), d["date_of_birth"]) for d in directors if d]
    if len(set(names)) != len(names):
        raise ValidationFailed("a director is listed twice", field="company.directors")
    return {"name": name, "registration_number": number, "country": country,
            "incorporated_on": c.incorporated_on.isoformat() if c.incorporated_on else None,
            "directors": directors}


def _director(d: Director, today: date) -> dict[str, Any]:
    form = FieldErrors()
    given = d.country
    country = form.take(lambda: country_code(given, "company.directors.country")) if given else None
    if d.date_of_birth is not None:
        majority = AGE_OF_MAJORITY.get(country or "", 18)
        if d.date_of_birth > today or age_on(d.date_of_birth, today) < majority:
            form.add(UnderAge(f"a director must be at least {majority}", field="company.directors.dateOfBirth"))
        elif age_on(d.date_of_birth, today) > 120:
            form.add(ValidationFailed("date of birth is not plausible", field="company.directors.dateOfBirth"))
    first = form.take(lambda: _required(d.first_name, "company.directors.firstName"))
    last = form.take(lambda: _required(d.last_name, "company.directors.lastName"))
    form.raise_if_any()
    return {"first_name": first, "last_name": last,
            "date_of_birth": d.date_of_birth.isoformat() if d.date_of_birth else None, "country": country}


async def update_profile(session: AsyncSession, settings: Settings, actor: Actor, client: Client,
                         data: ProfileInput, today: date) -> Client:
    require_status(client, EDITABLE, "change the profile")
    form = FieldErrors()
    first_name = form.take(lambda: _required(data.first_name, "firstName"))
    last_name = form.take(lambda: _required(data.last_name, "lastName"))
    if client.kind == "corporate" and data.company is None:
        form.add(ValidationFailed("corporate clients must give company data", field="company"))
    profile = await validate(session, data, today, form)
    form.raise_if_any()  # every field at fault at once
    assert first_name is not None and last_name is not None
    old_country, old_personal = client.country, identity_of(client)
    client.first_name, client.last_name = first_name, last_name
    client.date_of_birth, client.country, client.profile = data.date_of_birth, profile["address"]["country"], profile
    # The personal values reach the audit trail only sealed under the client's own key, so that
    # destroying the key erases them while the chain still verifies (domain/retention/identity.py).
    data_key = await seal_identity(session, settings, client)
    before = {"country": old_country, "sealed": sealed_for_audit(data_key, client.id, old_personal)}
    after = {"country": client.country, "sealed": sealed_for_audit(data_key, client.id, identity_of(client))}
    await record(session, actor, action="client.profile_updated", entity_type="client", entity_id=client.id,
                 before=before, after=after, category="general")
    from domain.compliance.aml import events as aml

    await aml.on_profile_change(session, actor, user_id=client.user_id, client_id=client.id)
    if client.status == Status.EMAIL_VERIFIED.value:
        await transition(session, actor, client, Status.PROFILE_COMPLETE, reason="profile completed")
    return client
