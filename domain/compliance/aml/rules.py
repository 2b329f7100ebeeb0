"""The rule document of a scenario version: parsed and type-checked node by node (every bad node is
reported with its path, nothing is kept when one is bad), then compiled.

    {"triggers": ["deposit", "withdrawal"],
     "thresholds": {"review": 30, "block": 60, "decline": 100},
     "rules": [{"name": "structuring", "score": 40,
                "when": {"all": [
                    {"cmp": "lt", "left": {"field": "amount"}, "right": {"const": 10000}},
                    {"cmp": "gte", "left": {"agg": "count", "window": {"days": 7},
                                            "where": {"direction": "deposit", "amount_gte": 8000}},
                     "right": {"const": 3}}]}}]}

Conditions: {"all": [..]}, {"any": [..]}, {"not": c}, {"cmp": gt|gte|lt|lte|eq|ne, "left": v, "right": v},
{"in_list": v, "list": "high_risk_countries" | a custom list's name}, {"round_amount": v, "multiple": n},
{"name_mismatch": {"below": 0.85}} (payer vs client, scored by domain.compliance.matching),
{"const": true|false}.
Values: {"field": <event or client field>}, {"const": number | string},
{"arith": add|sub|mul|div, "args": [v, v]},
{"answer": <questionnaire question id>, "amounts": {<option id>: number}} (the client's latest answer to
that question, as the amount its option declares: income or wealth bands; null when unanswered),
and aggregates over the client's history before the event:
{"agg": count|sum|avg|count_distinct|max, "of": column, "source": payments|deals|mirror_deals|links,
 "window": {"days"|"hours": n}, "where": {...}} compiled into one SQL statement per evaluation
(domain/compliance/aml/engine.py), each aggregate a FILTER clause.

- mirror_deals: the client's opening deals that another client's opening deal mirrored (same symbol,
  same side, opened within `within_seconds`, 1 to 600, default 5); count (deals), count_distinct of
  counterpart | symbol, max of counterpart_deals (the most deals one other client mirrored).
- transfers: the client's completed transfers between wallet and trading accounts (where
  {"direction": to_account | from_account}).
- payments' filters: direction, status, method_kind, country_in_list, amount_gte, amount_lt,
  same_method (the event's method), amount_gte_method_max_share (a share of that method's maximum).
- links: other clients sharing something with this one (`link`: ip / device of a sign-in session,
  instrument / payer of a payment); where {"link": [...], "same_ib": true} (both attributed to one
  IB now); `of`: other_user.

Triggers: deposit and withdrawal (the payment), transfer (wallet to trading account or wallet, with
transfer_kind), exchange (to_currency), trade_batch (batch_deals, batch_volume: a client's deals in
one ingested batch), profile_change, login_country (a sign-in from a country the client has not
signed in from: country, ip, device) and schedule (every active client, periodically).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.compliance.errors import InvalidRuleDocument
from domain.shared.errors import FieldErrors, InvalidFields

TRIGGERS = ("deposit", "withdrawal", "transfer", "exchange", "trade_batch", "profile_change", "login_country",
            "schedule")
PAYMENT_TRIGGERS = ("deposit", "withdrawal")
NUMBER, STRING, BOOL = "number", "string", "bool"
# Event fields (the payment) and client fields, with their types.
FIELDS: dict[str, str] = {
    "amount": NUMBER, "currency": STRING, "country": STRING, "card_bin_country": STRING, "method_kind": STRING,
    "method_code": STRING, "payer_name": STRING, "instrument": STRING, "direction": STRING,
    "client_country": STRING, "client_age_days": NUMBER, "days_since_last_payment": NUMBER,
    "client_risk_level": STRING, "user_id": NUMBER,
    # Other events' fields (null where the event has none).
    "transfer_kind": STRING, "to_currency": STRING, "batch_deals": NUMBER, "batch_volume": NUMBER, "ip": STRING,
    "device": STRING,
    # The largest amount the payment's method takes (payment_methods, the country's row over '*').
    "method_max_amount": NUMBER,
}
AGGS = ("count", "sum", "avg", "count_distinct", "max")
SOURCES: dict[str, dict[str, str]] = {
    # column -> type, for `of`
    "payments": {"amount": NUMBER, "payer_name": STRING, "instrument": STRING, "card_bin_country": STRING,
                 "country": STRING, "method_code": STRING},
    "deals": {"volume": NUMBER, "notional_usd": NUMBER, "symbol": STRING, "login": NUMBER},
    "mirror_deals": {"counterpart": NUMBER, "symbol": STRING, "counterpart_deals": NUMBER},
    "links": {"other_user": NUMBER},
    "transfers": {"amount": NUMBER},
}
COUNT_ONLY_SOURCES = ("mirror_deals", "links")  # count and count_distinct only
LINKS = ("ip", "device", "instrument", "payer")
MAX_MIRROR_S = 600
QUESTION_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
NUMERIC_AGGS = ("sum", "avg", "max")
PAYMENT_FILTERS = ("direction", "status", "method_kind", "country_in_list", "amount_gte", "amount_lt", "same_method",
                   "amount_gte_method_max_share")
TRANSFER_DIRECTIONS = ("to_account", "from_account")
DIRECTIONS = ("deposit", "withdrawal")
STATUSES = ("created", "pending", "succeeded", "failed", "cancelled", "refunded", "charged_back", "returned")
METHOD_KINDS = ("card", "wire", "local", "crypto", "ewallet")
CMP = ("gt", "gte", "lt", "lte", "eq", "ne")
ARITH = ("add", "sub", "mul", "div")
BUILTIN_LISTS = ("high_risk_countries",)
MAX_WINDOW_S = 3650 * 86400
MAX_RULES = 100
MAX_DEPTH = 12
LIST_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class Agg:
    """One aggregate over the client's history (`key` is its canonical form: equal aggregates share a column)."""

    fn: str
    of: str | None
    source: str
    window_s: int
    where: tuple[tuple[str, Any], ...]

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.fn, self.of, self.source, self.window_s, self.where)


Env = dict[str, Any]  # "row": the event's and client's fields, "aggs": aggregate values, "lists", "name_score"
Fn = Callable[[Env], Any]


@dataclass
class Rule:
    name: str
    score: Decimal
    when: Fn
    values: list[tuple[str, Fn]]  # what the explanation shows: each value the rule looked at


@dataclass
class Compiled:
    triggers: tuple[str, ...]
    review: Decimal
    block: Decimal | None
    decline: Decimal | None
    rules: list[Rule]
    aggs: list[Agg] = field(default_factory=list)
    lists: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    uses_name: bool = False
    answers: set[str] = field(default_factory=set)  # questionnaire question ids the rules read

    def outcome(self, score: Decimal) -> str:
        if self.decline is not None and score >= self.decline:
            return "decline"
        if self.block is not None and score >= self.block:
            return "block"
        return "review" if score >= self.review else "allow"


class _Parser:
    def __init__(self) -> None:
        self.errors = FieldErrors()
        self.aggs: dict[tuple[Any, ...], int] = {}
        self.agg_list: list[Agg] = []
        self.lists: set[str] = set()
        self.fields: set[str] = set()
        self.uses_name = False
        self.answers: set[str] = set()
        self.shown: list[tuple[str, Fn]] = []

    def bad(self, path: str, message: str) -> None:
        self.errors.add(InvalidRuleDocument(message, field=path))

    # --- values ------------------------------------------------------------------------------------------

    def number(self, raw: Any, path: str) -> Decimal | None:
        if isinstance(raw, bool) or not isinstance(raw, int | str | float):
            self.bad(path, "a number (an integer or a decimal string)")
            return None
        if isinstance(raw, float):
            self.bad(path, "write decimals as strings (\"12.5\"), never floats")
            return None
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            self.bad(path, "a number (an integer or a decimal string)")
            return None
        if not value.is_finite():
            self.bad(path, "a finite number")
            return None
        return value

    def value(self, raw: Any, path: str, depth: int) -> tuple[str, Fn] | None:
        if depth > MAX_DEPTH:
            self.bad(path, f"nested deeper than {MAX_DEPTH}")
            return None
        if not isinstance(raw, dict) or len(raw) == 0:
            self.bad(path, "a value: {field}, {const}, {arith}, {agg} or {answer}")
            return None
        if "field" in raw:
            name = raw["field"]
            if set(raw) != {"field"} or name not in FIELDS:
                self.bad(f"{path}.field", f"one of {', '.join(FIELDS)}")
                return None
            self.fields.add(name)
            return FIELDS[name], _field(str(name))
        if "const" in raw:
            if set(raw) != {"const"}:
                self.bad(path, "a constant has only `const`")
                return None
            c = raw["const"]
            if isinstance(c, str) and not re.fullmatch(r"-?\d+(\.\d+)?", c):
                if len(c) > 200:
                    self.bad(f"{path}.const", "at most 200 characters")
                    return None
                return STRING, _const(c)
            n = self.number(c, f"{path}.const")
            return (NUMBER, _const(n)) if n is not None else None
        if "arith" in raw:
            op, args = raw.get("arith"), raw.get("args")
            ok = True
            if op not in ARITH:
                self.bad(f"{path}.arith", f"one of {', '.join(ARITH)}")
                ok = False
            if not isinstance(args, list) or len(args) != 2:
                self.bad(f"{path}.args", "two values")
                return None
            parts = [self.value(a, f"{path}.args[{i}]", depth + 1) for i, a in enumerate(args)]
            for i, p in enumerate(parts):
                if p is not None and p[0] != NUMBER:
                    self.bad(f"{path}.args[{i}]", "arithmetic needs numbers")
                    ok = False
            if not ok or parts[0] is None or parts[1] is None:
                return None
            a, b = parts[0][1], parts[1][1]
            return NUMBER, _arith(str(op), a, b)
        if "agg" in raw:
            return self.agg(raw, path)
        if "answer" in raw:
            return self.answer(raw, path)
        self.bad(path, "a value: {field}, {const}, {arith}, {agg} or {answer}")
        return None

    def agg(self, raw: dict[str, Any], path: str) -> tuple[str, Fn] | None:
        known = {"agg", "of", "source", "window", "where"}
        ok = True
        for extra in sorted(set(raw) - known):
            self.bad(f"{path}.{extra}", "not part of an aggregate")
            ok = False
        fn, source = raw.get("agg"), raw.get("source", "payments")
        if fn not in AGGS:
            self.bad(f"{path}.agg", f"one of {', '.join(AGGS)}")
            return None
        if source not in SOURCES:
            self.bad(f"{path}.source", f"one of {', '.join(SOURCES)}")
            return None
        of = raw.get("of")
        columns = SOURCES[source]
        if fn == "count":
            if of is not None:
                self.bad(f"{path}.of", "count counts rows; leave `of` out")
                ok = False
        elif of not in columns:
            self.bad(f"{path}.of", f"one of {', '.join(columns)}")
            ok = False
        elif fn in NUMERIC_AGGS and columns[of] != NUMBER:
            self.bad(f"{path}.of", f"{fn} needs a numeric column")
            ok = False
        if source in COUNT_ONLY_SOURCES and fn not in ("count", "count_distinct") \
                and not (fn == "max" and of == "counterpart_deals"):
            self.bad(f"{path}.agg", f"{source} takes count or count_distinct"
                     + (" (or max of counterpart_deals)" if source == "mirror_deals" else ""))
            ok = False
        elif of == "counterpart_deals" and fn != "max":
            self.bad(f"{path}.of", "counterpart_deals (the most deals one counterpart mirrored) takes max")
            ok = False
        window = raw.get("window")
        window_s = 0
        if not isinstance(window, dict) or len(window) != 1 or next(iter(window)) not in ("days", "hours"):
            self.bad(f"{path}.window", "{\"days\": n} or {\"hours\": n}")
            ok = False
        else:
            unit, n = next(iter(window.items()))
            if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
                self.bad(f"{path}.window.{unit}", "a positive whole number")
                ok = False
            else:
                window_s = n * (86400 if unit == "days" else 3600)
                if window_s > MAX_WINDOW_S:
                    self.bad(f"{path}.window.{unit}", "at most ten years")
                    ok = False
        where = self.where(raw.get("where", {}), f"{path}.where", source)
        if not ok or where is None:
            return None
        spec = Agg(str(fn), of, str(source), window_s, where)
        index = self.aggs.get(spec.key)
        if index is None:
            index = self.aggs[spec.key] = len(self.agg_list)
            self.agg_list.append(spec)
        return NUMBER, _agg_value(index)

    def where(self, raw: Any, path: str, source: str) -> tuple[tuple[str, Any], ...] | None:
        if not isinstance(raw, dict):
            self.bad(path, "an object of filters")
            return None
        if source == "deals":
            if raw:
                self.bad(path, "deals take no filters")
                return None
            return ()
        if source == "mirror_deals":
            return self.mirror_where(raw, path)
        if source == "links":
            return self.links_where(raw, path)
        if source == "transfers":
            for extra in sorted(set(raw) - {"direction"}):
                self.bad(f"{path}.{extra}", "transfers take direction only")
                return None
            if "direction" in raw and raw["direction"] not in TRANSFER_DIRECTIONS:
                self.bad(f"{path}.direction", f"one of {', '.join(TRANSFER_DIRECTIONS)}")
                return None
            return (("direction", raw["direction"]),) if "direction" in raw else ()
        out: list[tuple[str, Any]] = []
        ok = True
        for key in sorted(raw):
            value, at = raw[key], f"{path}.{key}"
            if key == "direction":
                if value not in DIRECTIONS:
                    self.bad(at, f"one of {', '.join(DIRECTIONS)}")
                    ok = False
                    continue
                out.append((key, value))
            elif key in ("status", "method_kind"):
                allowed = STATUSES if key == "status" else METHOD_KINDS
                if not isinstance(value, list) or not value or any(v not in allowed for v in value):
                    self.bad(at, f"a non-empty list of {', '.join(allowed)}")
                    ok = False
                    continue
                out.append((key, tuple(sorted(set(value)))))
            elif key == "country_in_list":
                if not self.list_name(value, at):
                    ok = False
                    continue
                out.append((key, value))
            elif key == "same_method":
                if value is not True:
                    self.bad(at, "true (the event's payment method), or leave it out")
                    ok = False
                    continue
                out.append((key, True))
            elif key == "amount_gte_method_max_share":
                n = self.number(value, at)
                if n is None or not (0 < n <= 1):
                    if n is not None:
                        self.bad(at, "a share of the method's maximum amount, above 0 and at most 1")
                    ok = False
                    continue
                out.append((key, n))
            elif key in ("amount_gte", "amount_lt"):
                n = self.number(value, at)
                if n is None:
                    ok = False
                    continue
                out.append((key, n))
            else:
                self.bad(at, f"filters are {', '.join(PAYMENT_FILTERS)}")
                ok = False
        return tuple(out) if ok else None

    def mirror_where(self, raw: dict[str, Any], path: str) -> tuple[tuple[str, Any], ...] | None:
        ok = True
        for extra in sorted(set(raw) - {"within_seconds"}):
            self.bad(f"{path}.{extra}", "mirror_deals take within_seconds only")
            ok = False
        within = raw.get("within_seconds", 5)
        if isinstance(within, bool) or not isinstance(within, int) or not 1 <= within <= MAX_MIRROR_S:
            self.bad(f"{path}.within_seconds", f"a whole number of seconds from 1 to {MAX_MIRROR_S}")
            ok = False
        return (("within_seconds", within),) if ok else None

    def links_where(self, raw: dict[str, Any], path: str) -> tuple[tuple[str, Any], ...] | None:
        ok = True
        for extra in sorted(set(raw) - {"link", "same_ib"}):
            self.bad(f"{path}.{extra}", "links take link and same_ib")
            ok = False
        link = raw.get("link")
        if not isinstance(link, list) or not link or any(v not in LINKS for v in link):
            self.bad(f"{path}.link", f"a non-empty list of {', '.join(LINKS)}")
            ok = False
        same_ib = raw.get("same_ib", False)
        if not isinstance(same_ib, bool):
            self.bad(f"{path}.same_ib", "true or false")
            ok = False
        if not ok or not isinstance(link, list):
            return None
        return (("link", tuple(sorted(set(link)))), ("same_ib", same_ib))

    def answer(self, raw: dict[str, Any], path: str) -> tuple[str, Fn] | None:
        question, amounts = raw.get("answer"), raw.get("amounts")
        ok = True
        if set(raw) != {"answer", "amounts"}:
            self.bad(path, "an answer has answer (a question id) and amounts")
            return None
        if not isinstance(question, str) or not QUESTION_ID.fullmatch(question):
            self.bad(f"{path}.answer", "a question id (a letter, then letters, digits and _)")
            ok = False
        if not isinstance(amounts, dict) or not amounts or len(amounts) > 50:
            self.bad(f"{path}.amounts", "1 to 50 options, each with the amount it declares")
            return None
        table: dict[str, Decimal] = {}
        for option, amount in amounts.items():
            n = self.number(amount, f"{path}.amounts.{option}")
            if n is None:
                ok = False
            elif n < 0:
                self.bad(f"{path}.amounts.{option}", "an amount of zero or more")
                ok = False
            else:
                table[str(option)] = n
        if not ok:
            return None
        self.answers.add(str(question))
        return NUMBER, _answer(str(question), table)

    def list_name(self, value: Any, path: str) -> bool:
        if not isinstance(value, str) or not LIST_NAME.fullmatch(value):
            self.bad(path, "a list name: high_risk_countries or a custom list (lower case, digits, _)")
            return False
        self.lists.add(value)
        return True

    # --- conditions --------------------------------------------------------------------------------------

    def cond(self, raw: Any, path: str, depth: int) -> Fn | None:
        if depth > MAX_DEPTH:
            self.bad(path, f"nested deeper than {MAX_DEPTH}")
            return None
        if not isinstance(raw, dict) or len(raw) == 0:
            self.bad(path, "a condition: all, any, not, cmp, in_list, round_amount, name_mismatch or const")
            return None
        if "all" in raw or "any" in raw:
            kind = "all" if "all" in raw else "any"
            items = raw[kind]
            if set(raw) != {kind} or not isinstance(items, list) or not items:
                self.bad(f"{path}.{kind}", "a non-empty list of conditions")
                return None
            parts = [self.cond(c, f"{path}.{kind}[{i}]", depth + 1) for i, c in enumerate(items)]
            if any(p is None for p in parts):
                return None
            fns = [p for p in parts if p is not None]
            return _all(fns) if kind == "all" else _any(fns)
        if "not" in raw:
            inner = self.cond(raw["not"], f"{path}.not", depth + 1) if set(raw) == {"not"} else None
            if set(raw) != {"not"}:
                self.bad(path, "`not` stands alone")
            return (lambda env: not inner(env)) if inner is not None else None
        if "cmp" in raw:
            op = raw.get("cmp")
            if set(raw) != {"cmp", "left", "right"}:
                self.bad(path, "a comparison has cmp, left and right")
                return None
            left = self.value(raw["left"], f"{path}.left", depth + 1)
            right = self.value(raw["right"], f"{path}.right", depth + 1)
            if op not in CMP:
                self.bad(f"{path}.cmp", f"one of {', '.join(CMP)}")
                return None
            if left is None or right is None:
                return None
            if left[0] != right[0]:
                self.bad(path, f"compares a {left[0]} with a {right[0]}")
                return None
            if left[0] == STRING and op not in ("eq", "ne"):
                self.bad(f"{path}.cmp", "text compares with eq or ne only")
                return None
            self.shown.append((f"{path}.left", left[1]))
            self.shown.append((f"{path}.right", right[1]))
            return _compare(str(op), left[1], right[1])
        if "in_list" in raw:
            if set(raw) != {"in_list", "list"}:
                self.bad(path, "in_list has in_list (a value) and list")
                return None
            v = self.value(raw["in_list"], f"{path}.in_list", depth + 1)
            ok = self.list_name(raw["list"], f"{path}.list")
            if v is None or not ok:
                return None
            self.shown.append((f"{path}.in_list", v[1]))
            name = raw["list"]
            return _in_list(v[1], str(name))
        if "round_amount" in raw:
            if set(raw) != {"round_amount", "multiple"}:
                self.bad(path, "round_amount has round_amount (a value) and multiple")
                return None
            v = self.value(raw["round_amount"], f"{path}.round_amount", depth + 1)
            m = self.number(raw["multiple"], f"{path}.multiple")
            if m is not None and m <= 0:
                self.bad(f"{path}.multiple", "a positive number")
                m = None
            if v is not None and v[0] != NUMBER:
                self.bad(f"{path}.round_amount", "a number")
                v = None
            if v is None or m is None:
                return None
            self.shown.append((f"{path}.round_amount", v[1]))
            return _round(v[1], m)
        if "name_mismatch" in raw:
            spec = raw["name_mismatch"]
            below = spec.get("below") if isinstance(spec, dict) and set(spec) <= {"below"} else None
            n = self.number(below, f"{path}.name_mismatch.below") if below is not None else None
            if n is None or not (0 < n <= 1):
                if below is None or n is not None:
                    self.bad(f"{path}.name_mismatch.below", "a similarity between 0 and 1")
                return None
            self.uses_name = True
            self.fields.add("payer_name")
            self.shown.append((f"{path}.name_similarity", lambda env: env.get("name_score")))
            return _name_below(float(n))
        if "const" in raw and set(raw) == {"const"} and isinstance(raw["const"], bool):
            return _const(bool(raw["const"]))
        self.bad(path, "a condition: all, any, not, cmp, in_list, round_amount, name_mismatch or const")
        return None


def _const(value: Any) -> Fn:
    return lambda env: value


def _field(name: str) -> Fn:
    return lambda env: env["row"].get(name)


def answer_column(question: str) -> str:
    """The statement's column holding the client's latest answer to `question`."""
    return "q_" + question


def _answer(question: str, amounts: dict[str, Decimal]) -> Fn:
    column = answer_column(question)
    return lambda env: amounts.get(env["row"].get(column))


def _agg_value(index: int) -> Fn:
    return lambda env: env["aggs"][index]


def _in_list(value: Fn, name: str) -> Fn:
    def run(env: Env) -> bool:
        x = value(env)
        return x is not None and str(x).upper() in env["lists"][name]

    return run


def _round(value: Fn, multiple: Decimal) -> Fn:
    def run(env: Env) -> bool:
        x = value(env)
        return x is not None and x != 0 and x % multiple == 0

    return run


def _name_below(threshold: float) -> Fn:
    def run(env: Env) -> bool:
        score = env.get("name_score")
        return score is not None and score < threshold

    return run


def _arith(op: str, a: Fn, b: Fn) -> Fn:
    def run(env: Env) -> Decimal | None:
        x, y = a(env), b(env)
        if x is None or y is None:
            return None
        if op == "add":
            return Decimal(x + y)
        if op == "sub":
            return Decimal(x - y)
        if op == "mul":
            return Decimal(x * y)
        return None if y == 0 else Decimal(x / y)

    return run


# The comparison's operator looked up once, at compile time (a test run evaluates millions).
_OPS: dict[str, Callable[[Any, Any], Any]] = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
                                              "lte": operator.le, "eq": operator.eq, "ne": operator.ne}


def _compare(op: str, a: Fn, b: Fn) -> Fn:
    test = _OPS[op]

    def run(env: Env) -> bool:
        x = a(env)
        if x is None:
            return False
        y = b(env)
        return y is not None and bool(test(x, y))

    return run


def _all(fns: list[Fn]) -> Fn:
    def run(env: Env) -> bool:
        for f in fns:  # noqa: SIM110 - cheaper than all() over a generator
            if not f(env):
                return False
        return True

    return run


def _any(fns: list[Fn]) -> Fn:
    def run(env: Env) -> bool:
        for f in fns:  # noqa: SIM110 - cheaper than any() over a generator
            if f(env):
                return True
        return False

    return run


def compile_document(document: Any) -> Compiled:
    """The document checked and compiled; InvalidFields with one INVALID_RULE_DOCUMENT per bad node."""
    p = _Parser()
    if not isinstance(document, dict):
        p.bad("document", "an object with triggers, thresholds and rules")
        p.errors.raise_if_any()
    doc: dict[str, Any] = document
    for extra in sorted(set(doc) - {"triggers", "thresholds", "rules"}):
        p.bad(extra, "not part of a scenario (triggers, thresholds, rules)")
    triggers = doc.get("triggers")
    if not isinstance(triggers, list) or not triggers or any(t not in TRIGGERS for t in triggers):
        p.bad("triggers", f"a non-empty list of {', '.join(TRIGGERS)}")
        triggers = []
    thresholds = doc.get("thresholds")
    review = block = decline = None
    if not isinstance(thresholds, dict) or "review" not in thresholds \
            or set(thresholds) - {"review", "block", "decline"}:
        p.bad("thresholds", "review (required), block and decline scores")
    else:
        review = p.number(thresholds["review"], "thresholds.review")
        block = p.number(thresholds["block"], "thresholds.block") if "block" in thresholds else None
        decline = p.number(thresholds["decline"], "thresholds.decline") if "decline" in thresholds else None
        if review is not None and review <= 0:
            p.bad("thresholds.review", "a positive score")
        ordered = [x for x in (review, block, decline) if x is not None]
        if ordered != sorted(ordered):
            p.bad("thresholds", "review <= block <= decline")
    raw_rules = doc.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list) or not raw_rules or len(raw_rules) > MAX_RULES:
        p.bad("rules", f"a list of 1 to {MAX_RULES} rules")
        raw_rules = []
    names: set[str] = set()
    for i, raw in enumerate(raw_rules):
        path = f"rules[{i}]"
        if not isinstance(raw, dict) or set(raw) != {"name", "score", "when"}:
            p.bad(path, "a rule has name, score and when")
            continue
        name = raw["name"]
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_ .-]{1,80}", name):
            p.bad(f"{path}.name", "1 to 80 letters, digits, spaces, _ . -")
        elif name in names:
            p.bad(f"{path}.name", "rule names are unique in a scenario")
        names.add(str(name))
        score = p.number(raw["score"], f"{path}.score")
        p.shown = []
        when = p.cond(raw["when"], f"{path}.when", 0)
        if score is not None and when is not None:
            rules.append(Rule(str(name), score, when, p.shown))
    p.errors.raise_if_any()
    assert review is not None
    return Compiled(tuple(dict.fromkeys(triggers)), review, block, decline, rules, p.agg_list, p.lists, p.fields,
                    p.uses_name, p.answers)


def check(document: Any) -> None:
    """Raise InvalidFields (each bad node its own error) when the document does not compile."""
    compile_document(document)


__all__ = ["TRIGGERS", "Agg", "Compiled", "InvalidFields", "Rule", "check", "compile_document"]
