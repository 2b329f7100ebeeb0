"""Scenario templates for what brokers see, as rule documents a compliance officer starts a scenario
from (createAmlScenario with the template's document) and tunes. Each is measured on a seeded
population with planted patterns (bench/scenarios/aml.py) and tested (tests/compliance).

Not here yet: deposits far above the declared income or wealth (the client profile does not ask for
either), IB clients sharing devices, IPs or payment instruments, and mirror trading between
unrelated clients (both need a scheduled, population-wide trigger the engine does not have)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    key: str
    title: str
    description: str
    document: dict[str, Any]


def _one(triggers: list[str], name: str, when: dict[str, Any], score: int = 60) -> dict[str, Any]:
    return {"triggers": triggers, "thresholds": {"review": 50, "block": 90},
            "rules": [{"name": name, "score": score, "when": when}]}


DEPOSITS_7D = {"agg": "sum", "of": "amount", "window": {"days": 7},
               "where": {"direction": "deposit", "status": ["succeeded"]}}

TEMPLATES: tuple[Template, ...] = (
    Template("rapid_in_out", "Rapid in and out with little trading",
             "A withdrawal of most of what was deposited in the last 7 days, with at most 2 deals meanwhile.",
             _one(["withdrawal"], "rapid_in_out", {"all": [
                 {"cmp": "gte", "left": DEPOSITS_7D, "right": {"const": 1000}},
                 {"cmp": "gte", "left": {"field": "amount"},
                  "right": {"arith": "mul", "args": [DEPOSITS_7D, {"const": "0.8"}]}},
                 {"cmp": "lte", "left": {"agg": "count", "source": "deals", "window": {"days": 7}},
                  "right": {"const": 2}}]})),
    Template("structuring", "Structuring below a reporting threshold",
             "A deposit just below 10,000 after two or more such deposits within 7 days.",
             _one(["deposit"], "structuring", {"all": [
                 {"cmp": "gte", "left": {"field": "amount"}, "right": {"const": 9000}},
                 {"cmp": "lt", "left": {"field": "amount"}, "right": {"const": 10000}},
                 {"cmp": "gte", "left": {"agg": "count", "window": {"days": 7},
                                         "where": {"direction": "deposit", "amount_gte": 9000, "amount_lt": 10000}},
                  "right": {"const": 2}}]})),
    Template("many_instruments", "Many cards or payers for one client",
             "Deposits from three or more cards (instruments) or payer names within 30 days before this one.",
             _one(["deposit"], "many_instruments", {"any": [
                 {"cmp": "gte", "left": {"agg": "count_distinct", "of": "instrument", "window": {"days": 30},
                                         "where": {"direction": "deposit"}}, "right": {"const": 3}},
                 {"cmp": "gte", "left": {"agg": "count_distinct", "of": "payer_name", "window": {"days": 30},
                                         "where": {"direction": "deposit"}}, "right": {"const": 3}}]})),
    Template("third_party_funding", "Third-party funding",
             "The payer's name is not the client's (similarity below 0.7 by the screening matcher).",
             _one(["deposit"], "third_party", {"name_mismatch": {"below": "0.7"}})),
    Template("high_risk_country", "Funding from or withdrawal to a high-risk country",
             "The payment's country or its card's issuing country is on the high-risk list.",
             _one(["deposit", "withdrawal"], "high_risk_country", {"any": [
                 {"in_list": {"field": "country"}, "list": "high_risk_countries"},
                 {"in_list": {"field": "card_bin_country"}, "list": "high_risk_countries"}]})),
    Template("dormant_reactivated", "Dormant account suddenly active",
             "A payment of 1,000 or more after 180 days or more without any.",
             _one(["deposit", "withdrawal"], "dormant", {"all": [
                 {"cmp": "gte", "left": {"field": "days_since_last_payment"}, "right": {"const": 180}},
                 {"cmp": "gte", "left": {"field": "amount"}, "right": {"const": 1000}}]})),
)

BY_KEY = {t.key: t for t in TEMPLATES}
