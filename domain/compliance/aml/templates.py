"""Scenario templates for what brokers see, as rule documents a compliance officer starts a scenario
from (createAmlScenario with the template's document) and tunes. Each is measured on a seeded
population with planted patterns (bench/scenarios/aml.py) and tested (tests/compliance).

- income_far_above: reads the questionnaire's `annual_income` and `net_worth` answers (questions a
  broker adds to its questionnaire; the option ids below are the ones the template maps to amounts:
  edit `amounts` to the broker's own options). A client who answered neither is never raised.
- ib_shared_links: IPs of sign-in sessions and payment instruments; a session's device is a label or
  user agent that thousands of unrelated clients share, so the template leaves it out (a rule may
  add "device" where sessions carry a real fingerprint).
- mirror_trading: another client opening the same symbol on the same side within 5 seconds, 5 times
  or more in 30 days (one counterpart), evaluated after every trade batch and nightly.
"""

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

INCOME = {"answer": "annual_income", "amounts": {"under_25k": 25000, "25k_50k": 50000, "50k_100k": 100000,
                                                 "100k_250k": 250000, "over_250k": 1000000}}
WEALTH = {"answer": "net_worth", "amounts": {"under_50k": 50000, "50k_250k": 250000, "250k_1m": 1000000,
                                             "over_1m": 5000000}}
DEPOSITS_365D = {"arith": "add", "args": [
    {"agg": "sum", "of": "amount", "window": {"days": 365}, "where": {"direction": "deposit", "status": ["succeeded"]}},
    {"field": "amount"}]}

TEMPLATES += (
    Template("income_far_above", "Deposits far above declared income and wealth",
             "A deposit that brings the last 12 months' deposits above the annual income the client declared in "
             "the questionnaire and above half the wealth they declared.",
             _one(["deposit"], "income_far_above", {"all": [
                 {"cmp": "gt", "left": DEPOSITS_365D, "right": INCOME},
                 {"cmp": "gt", "left": DEPOSITS_365D, "right": {"arith": "mul", "args": [WEALTH, {"const": "0.5"}]}},
             ]})),
    Template("ib_shared_links", "IB clients sharing IPs or payment instruments",
             "A client who signed in from an IP or paid with a card (instrument) another client of the same IB "
             "used within 90 days.",
             _one(["schedule"], "ib_shared_links", {"cmp": "gte", "left": {
                 "agg": "count_distinct", "of": "other_user", "source": "links", "window": {"days": 90},
                 "where": {"link": ["instrument", "ip"], "same_ib": True}}, "right": {"const": 1}})),
    Template("mirror_trading", "Mirror trading between clients",
             "Another client opened the same symbol on the same side within 5 seconds of this client's deals, "
             "5 times or more in 30 days.",
             _one(["trade_batch", "schedule"], "mirror_trading", {"cmp": "gte", "left": {
                 "agg": "max", "of": "counterpart_deals", "source": "mirror_deals", "window": {"days": 30},
                 "where": {"within_seconds": 5}}, "right": {"const": 5}})),
)

# The patterns the hard-coded payment signals raised (domain/payments/signals.py before these), as rules.
DEPOSITS_24H = {"agg": "count", "window": {"hours": 24}, "where": {"direction": "deposit", "status": ["succeeded"]}}
TEMPLATES += (
    Template("card_country_mismatch", "Card issued in another country",
             "A card deposit whose card was issued in another country than the one the payment came from.",
             _one(["deposit"], "card_country_mismatch", {"cmp": "ne", "left": {"field": "card_bin_country"},
                                                         "right": {"field": "country"}})),
    Template("deposits_near_limit", "Repeated deposits near the method's limit",
             "A deposit of 90% or more of its method's maximum after two or more such deposits by the same method "
             "within 24 hours.",
             _one(["deposit"], "deposits_near_limit", {"all": [
                 {"cmp": "gte", "left": {"field": "amount"},
                  "right": {"arith": "mul", "args": [{"field": "method_max_amount"}, {"const": "0.9"}]}},
                 {"cmp": "gte", "left": {"agg": "count", "window": {"hours": 24}, "where": {
                     "direction": "deposit", "status": ["succeeded"], "same_method": True,
                     "amount_gte_method_max_share": "0.9"}}, "right": {"const": 2}}]})),
    Template("quick_withdrawal", "Withdrawal within a day of a deposit",
             "A withdrawal requested less than 24 hours after a deposit arrived.",
             _one(["withdrawal"], "quick_withdrawal", {"cmp": "gte", "left": DEPOSITS_24H, "right": {"const": 1}})),
    Template("withdrawal_without_trading", "Withdrawal of money never moved to trading",
             "A withdrawal by a client who deposited in the last 30 days and moved nothing to a trading account "
             "meanwhile.",
             _one(["withdrawal"], "withdrawal_without_trading", {"all": [
                 {"cmp": "gte", "left": {"agg": "count", "window": {"days": 30},
                                         "where": {"direction": "deposit", "status": ["succeeded"]}},
                  "right": {"const": 1}},
                 {"cmp": "eq", "left": {"agg": "count", "source": "transfers", "window": {"days": 30},
                                        "where": {"direction": "to_account"}}, "right": {"const": 0}}]})),
)

BY_KEY = {t.key: t for t in TEMPLATES}
