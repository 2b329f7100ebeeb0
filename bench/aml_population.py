"""A seeded population for transaction monitoring: ordinary clients (deposits of varied amounts from
their own card in their own name, withdrawals smaller than what they deposited, trading before they
withdraw, a payment every few days) and clients with one planted pattern per template
(domain/compliance/aml/templates.py). Written with set-based SQL; every row is tagged so several
populations live side by side. History ends at `base`; ordinary clients' history spans 120 days.
Every client has a profile, questionnaire answers (declared income and wealth) and a sign-in session;
a tenth of the ordinary clients came through one IB; planted sharing and mirror trading come in pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from domain.compliance.aml import engine, test_runs
from domain.compliance.aml.rules import Compiled
from domain.compliance.aml.templates import TEMPLATES
from domain.shared.db import Reader

KINDS = tuple(t.key for t in TEMPLATES)
NAMES_FIRST = ("Anna", "Marco", "Sofia", "Lukas", "Elena", "Pierre", "Julia", "Tomasz", "Ines", "Jonas", "Clara",
               "Mateo", "Hanna", "Luca", "Eva", "David")
NAMES_LAST = ("Keller", "Rossi", "Garcia", "Novak", "Dubois", "Jansen", "Schmidt", "Moreau", "Kowalski", "Silva",
              "Bauer", "Ricci", "Lopez", "Weber", "Martin", "Costa")
SPAN_DAYS = 120


@dataclass
class Population:
    tag: str
    base: datetime
    planted: dict[str, set[int]] = field(default_factory=dict)  # template -> user ids
    ordinary: set[int] = field(default_factory=set)
    payments: int = 0


SEED = """
INSERT INTO users (email, email_normalized, is_client, display_name)
SELECT 'aml-' || {tag} || '-' || i || '@pop.example', 'aml-' || {tag} || '-' || i || '@pop.example', true,
       ({first})[1 + i % 16] || ' ' || ({last})[1 + (i / 16) % 16]
FROM generate_series(1, {n}) i;

CREATE TEMP TABLE pop ON COMMIT DROP AS
SELECT u.id AS user_id, split_part(split_part(u.email, '@', 1), '-', 3)::int AS i, u.display_name AS name
FROM users u WHERE u.email LIKE 'aml-' || {tag} || '-%@pop.example';

INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc)
VALUES ('aml-' || {tag}, 'mt5', 'http://127.0.0.1:9', 1000, 'x');
INSERT INTO trading_accounts (server_id, login, user_id, "group", leverage, currency)
SELECT (SELECT id FROM trading_servers WHERE name = 'aml-' || {tag}), i, user_id, 'real', 100, 'USD' FROM pop;
"""

# Ordinary clients (after the planted ones): `each` payments, spread over SPAN_DAYS; every fifth a withdrawal of a
# fraction of a deposit, after three deals in the day before it.
ORDINARY = """
CREATE TEMP TABLE ord ON COMMIT DROP AS
SELECT pop.user_id, pop.i, pop.name, k,
       {base} - make_interval(secs => ((({each} - k) * {span} * 86400.0) / {each})::int + (pop.i * 7919
      + k * 104729) % 20000)
         AS at,
       CASE WHEN k % 5 = 0 THEN 'withdrawal' ELSE 'deposit' END AS direction,
       CASE WHEN k % 5 = 0 THEN (60 + (pop.i * 31 + k * 17) % 400)::numeric + ((pop.i + k) % 100) / 100.0
            ELSE (100 + (pop.i * 7 + k * 13) % 4800)::numeric + ((pop.i * 3 + k) % 100) / 100.0 END AS amount,
       (ARRAY['DE', 'FR', 'ES', 'IT', 'GB', 'PL', 'NL'])[1 + pop.i % 7] AS country,
       'card-' || pop.i || '-' || (k % (1 + pop.i % 2)) AS instrument
FROM pop, generate_series(1, {each}) k WHERE pop.i > {planted};

INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, amount, country,
                      status, payer_name, card_bin_country, instrument, correlation_id, created_at, updated_at)
SELECT 'A' || {tag} || 'o' || i || 'k' || k, user_id, direction, 'card-pop', 'card', 'pop', 'USD', amount, country,
       'succeeded', name, country, instrument, gen_random_uuid(), at, at FROM ord;

INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, order_id, position_id, action, entry, symbol,
    price, volume, profit, commission, storage, fee, reason, contract_size, rate_profit, rate_margin, batch_id)
SELECT (SELECT id FROM trading_servers WHERE name = 'aml-' || {tag}), i::bigint * 100000 + k * 10 + d,
       at - make_interval(hours => 2 + d * 5)
         - make_interval(secs => abs(hashtext(i || ':' || k || ':' || d)::bigint) % 3600),
       0, i, i, i, d % 2, d % 2, 'EURUSD', 1.1, 0.1, 1, 0, 0, 0, 0, 100000, 1,
       1, gen_random_uuid()
FROM ord, generate_series(1, 3) d WHERE direction = 'withdrawal';
"""

# Every client's profile and questionnaire answers (declared income and wealth: ordinary clients declare
# more than they deposit), a sign-in session each (an IP of its own, a device label everybody shares), and
# one IB that a tenth of the ordinary clients came through (they share nothing).
PROFILES = """
INSERT INTO clients (user_id, status, first_name, last_name, country, created_at)
SELECT user_id, 'active', split_part(name, ' ', 1), split_part(name, ' ', 2), 'DE', {base} - interval '800 days'
FROM pop;

INSERT INTO questionnaires (version, definition, active)
SELECT coalesce(max(version), 0) + 1000, '{{"questions": [], "bands": []}}'::jsonb, false FROM questionnaires;

INSERT INTO questionnaire_responses (client_id, questionnaire_id, answers, score, risk_category)
SELECT c.id, (SELECT max(id) FROM questionnaires),
       CASE WHEN pop.i <= {planted} AND ({kinds})[1 + (pop.i - 1) / {planted_each}] = 'income_far_above'
            THEN '{{"annual_income": "under_25k", "net_worth": "under_50k"}}'::jsonb
            ELSE '{{"annual_income": "100k_250k", "net_worth": "250k_1m"}}'::jsonb END, 10, 'low'
FROM pop JOIN clients c ON c.user_id = pop.user_id;

INSERT INTO auth_sessions (user_id, device, ip, created_at, last_seen_at)
SELECT user_id, 'Chrome on Windows', ('10.' || (i / 65536) % 256 || '.' || (i / 256) % 256 || '.' || i % 256)::inet,
       {base} - interval '20 days', {base} - interval '20 days'
FROM pop;

INSERT INTO users (email, email_normalized, is_ib, display_name)
VALUES ('aml-ib-' || {tag} || '@pop.example', 'aml-ib-' || {tag} || '@pop.example', true, 'Population IB');
INSERT INTO ib_partners (user_id, status)
SELECT id, 'approved' FROM users WHERE email = 'aml-ib-' || {tag} || '@pop.example';
INSERT INTO ib_client_attributions (client_id, ib_id, source, valid_from)
SELECT pop.user_id, (SELECT id FROM users WHERE email = 'aml-ib-' || {tag} || '@pop.example'), 'registration',
       {base} - interval '800 days'
FROM pop
WHERE (pop.i > {planted} AND pop.i % 10 = 0)
   OR (pop.i <= {planted} AND ({kinds})[1 + (pop.i - 1) / {planted_each}] = 'ib_shared_links');
"""

# Planted clients (the first ids): the template of client i is KINDS[(i - 1) / planted_each]; (kind, days before base,
# direction, amount, payer ('' = the client), country, instrument).
PLANTED = """
CREATE TEMP TABLE plan (kind text, n int, days numeric, direction text, amount numeric, payer text,
                        country text, instrument text) ON COMMIT DROP;
INSERT INTO plan VALUES
  ('rapid_in_out', 1, 30, 'deposit', 200, '', 'DE', 'c1'),
  ('rapid_in_out', 2, 3, 'deposit', 5000, '', 'DE', 'c1'),
  ('rapid_in_out', 3, 1, 'withdrawal', 4800, '', 'DE', 'c1'),
  ('structuring', 1, 5, 'deposit', 9500, '', 'DE', 'c1'),
  ('structuring', 2, 3, 'deposit', 9200, '', 'DE', 'c1'),
  ('structuring', 3, 1, 'deposit', 9800, '', 'DE', 'c1'),
  ('many_instruments', 1, 20, 'deposit', 300, '', 'DE', 'c1'),
  ('many_instruments', 2, 14, 'deposit', 300, '', 'DE', 'c2'),
  ('many_instruments', 3, 7, 'deposit', 300, '', 'DE', 'c3'),
  ('many_instruments', 4, 1, 'deposit', 300, '', 'DE', 'c4'),
  ('third_party_funding', 1, 20, 'deposit', 400, '', 'DE', 'c1'),
  ('third_party_funding', 2, 1, 'deposit', 500, 'Zhang Wei Trading Holdings', 'DE', 'c1'),
  ('high_risk_country', 1, 20, 'deposit', 400, '', 'DE', 'c1'),
  ('high_risk_country', 2, 1, 'deposit', 700, '', 'IR', 'c1'),
  ('dormant_reactivated', 1, 400, 'deposit', 300, '', 'DE', 'c1'),
  ('dormant_reactivated', 2, 1, 'deposit', 5000, '', 'DE', 'c1'),
  ('income_far_above', 1, 60, 'deposit', 14000, '', 'DE', 'c1'),
  ('income_far_above', 2, 30, 'deposit', 14000, '', 'DE', 'c1'),
  ('income_far_above', 3, 1, 'deposit', 12000, '', 'DE', 'c1'),
  ('ib_shared_links', 1, 40, 'deposit', 300, '', 'DE', 'c1'),
  ('mirror_trading', 1, 40, 'deposit', 2000, '', 'DE', 'c1'),
  ('card_country_mismatch', 1, 20, 'deposit', 400, '', 'DE', 'c1'),
  ('card_country_mismatch', 2, 1, 'deposit', 600, '', 'DE', 'c1'),
  ('deposits_near_limit', 1, 1.5, 'deposit', 930, '', 'DE', 'c1'),
  ('deposits_near_limit', 2, 1.2, 'deposit', 940, '', 'DE', 'c1'),
  ('deposits_near_limit', 3, 1, 'deposit', 920, '', 'DE', 'c1'),
  ('quick_withdrawal', 1, 2, 'deposit', 300, '', 'DE', 'c1'),
  ('quick_withdrawal', 2, 1.9, 'withdrawal', 100, '', 'DE', 'c1'),
  ('withdrawal_without_trading', 1, 10, 'deposit', 300, '', 'DE', 'c1'),
  ('withdrawal_without_trading', 2, 5, 'withdrawal', 200, '', 'DE', 'c1');

INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, amount, country,
                      status, payer_name, card_bin_country, instrument, correlation_id, created_at, updated_at)
SELECT 'A' || {tag} || 'p' || pop.i || 'n' || plan.n, pop.user_id, plan.direction, 'card-pop', 'card', 'pop', 'USD',
       plan.amount
      + (pop.i % 50), plan.country, 'succeeded', CASE WHEN plan.payer = '' THEN pop.name ELSE plan.payer END,
       plan.country, 'card-' || pop.i || '-' || plan.instrument, gen_random_uuid(),
       {base} - make_interval(secs => (plan.days * 86400)::int - pop.i % 3600),
       {base} - make_interval(secs => (plan.days * 86400)::int - pop.i % 3600)
FROM pop JOIN plan ON plan.kind = ({kinds})[1 + (pop.i - 1) / {planted_each}]
WHERE pop.i <= {planted};

-- Planted card and method patterns: another card country; a method whose maximum is 1,000.
UPDATE payments SET card_bin_country = 'FR' FROM pop
WHERE payments.reference = 'A' || {tag} || 'p' || pop.i || 'n2' AND pop.i <= {planted}
  AND ({kinds})[1 + (pop.i - 1) / {planted_each}] = 'card_country_mismatch';
INSERT INTO payment_methods (code, kind, provider, currency, max_amount)
VALUES ('near-' || {tag}, 'card', 'pop', 'USD', 1000);
UPDATE payments SET method_code = 'near-' || {tag} FROM pop
WHERE payments.user_id = pop.user_id AND pop.i <= {planted}
  AND ({kinds})[1 + (pop.i - 1) / {planted_each}] = 'deposits_near_limit';

-- Wallets and trading-account mirrors, and a transfer to the trading account the day before each withdrawal
-- (the withdrawal-without-trading clients excepted).
INSERT INTO ledger_accounts (type, purpose, currency, owner_id)
SELECT 'liability', 'client_wallet', 'USD', user_id FROM pop;
INSERT INTO ledger_accounts (type, purpose, currency, owner_id, server_id, login)
SELECT 'liability', 'trading_account_mirror', 'USD', pop.user_id,
       (SELECT id FROM trading_servers WHERE name = 'aml-' || {tag})::text, pop.i FROM pop;
INSERT INTO ledger_transfers (external_id, user_id, direction, wallet_account_id, mirror_account_id, server_id,
                              login, currency, amount, status, idem_scope, idem_key, created_at, updated_at)
SELECT gen_random_uuid(), p.user_id, 'to_account', w.id, m.id, m.server_id, m.login, 'USD', 100, 'done', 'pop',
       p.reference, p.created_at - interval '1 day', p.created_at - interval '1 day'
FROM payments p JOIN pop ON pop.user_id = p.user_id
JOIN ledger_accounts w ON w.owner_id = p.user_id AND w.purpose = 'client_wallet'
JOIN ledger_accounts m ON m.owner_id = p.user_id AND m.purpose = 'trading_account_mirror'
WHERE p.direction = 'withdrawal' AND NOT (pop.i <= {planted}
  AND ({kinds})[1 + (pop.i - 1) / {planted_each}] = 'withdrawal_without_trading');

-- Pairs within a planted kind (the last of an odd count joins the pair before it).
CREATE TEMP TABLE pairs ON COMMIT DROP AS
SELECT pop.user_id, pop.i, ({kinds})[1 + (pop.i - 1) / {planted_each}] AS kind,
       least(((pop.i - 1) % {planted_each}) / 2, greatest(0, {planted_each} / 2 - 1)) AS pair
FROM pop WHERE pop.i <= {planted};

-- IB clients sharing: each pair pays with one card and signs in from one IP.
INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, amount, country,
                      status, payer_name, card_bin_country, instrument, correlation_id, created_at, updated_at)
SELECT 'A' || {tag} || 's' || pairs.i, pairs.user_id, 'deposit', 'card-pop', 'card', 'pop', 'USD', 250, 'DE',
       'succeeded', pop.name, 'DE', 'shared-' || {tag} || '-' || pairs.pair, gen_random_uuid(),
       {base} - interval '10 days', {base} - interval '10 days'
FROM pairs JOIN pop ON pop.user_id = pairs.user_id WHERE pairs.kind = 'ib_shared_links';
INSERT INTO auth_sessions (user_id, device, ip, created_at, last_seen_at)
SELECT user_id, 'Safari on iPhone', ('172.16.' || pair % 256 || '.' || 1 + pair / 256)::inet,
       {base} - interval '5 days', {base} - interval '5 days'
FROM pairs WHERE kind = 'ib_shared_links';

-- Mirror trading: each pair opens GBPJPY buys within 2 seconds of each other, 6 times in 3 weeks.
INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, order_id, position_id, action, entry, symbol,
    price, volume, profit, commission, storage, fee, reason, contract_size, rate_profit, rate_margin, batch_id)
SELECT (SELECT id FROM trading_servers WHERE name = 'aml-' || {tag}), pairs.i::bigint * 100000 + 90000 + n,
       {base} - make_interval(days => 3 * n, secs => 3600 * (pairs.pair % 7) - pairs.i % 3), 0, pairs.i,
       pairs.i, pairs.i, 0, 0, 'GBPJPY', 190.1, 1.0, 0, 0, 0, 0, 0, 100000, 1, 1, gen_random_uuid()
FROM pairs, generate_series(1, 6) n WHERE pairs.kind = 'mirror_trading';
"""


async def seed(conn: asyncpg.Connection, *, tag: str, base: datetime, ordinary: int, planted_each: int,
               payments_each: int) -> Population:
    """Write the population in one transaction; planted clients take the first ids of the tag."""
    planted_total = planted_each * len(KINDS)
    values = {"tag": f"'{tag}'", "n": planted_total + ordinary, "planted": planted_total, "each": payments_each,
              "span": SPAN_DAYS, "planted_each": planted_each, "base": f"timestamptz '{base.isoformat()}'",
              "first": _array(NAMES_FIRST), "last": _array(NAMES_LAST), "kinds": _array(KINDS)}
    async with conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit = off")
        for script in (SEED, ORDINARY, PROFILES, PLANTED):
            for stmt in _split(script):
                await conn.execute(stmt.format(**values))
        rows = await conn.fetch("SELECT user_id, i FROM pop")
        count = await conn.fetchval("SELECT count(*) FROM payments p JOIN pop ON pop.user_id = p.user_id")
    return _split_population(Population(tag, base, payments=int(count)), rows, planted_each)


def _split_population(population: Population, rows: list[asyncpg.Record], planted_each: int) -> Population:
    for r in rows:
        if r["i"] <= planted_each * len(KINDS):
            population.planted.setdefault(KINDS[(r["i"] - 1) // planted_each], set()).add(r["user_id"])
        else:
            population.ordinary.add(r["user_id"])
    return population


async def seeded(conn: asyncpg.Connection, *, tag: str, base: datetime, planted_each: int) -> Population:
    """The population `seed` wrote earlier (a kept database), read back: planted clients by their index."""
    rows = await conn.fetch("SELECT id AS user_id, split_part(split_part(email, '@', 1), '-', 3)::int AS i "
                            "FROM users WHERE email LIKE 'aml-' || $1 || '-%@pop.example'", tag)
    count = await conn.fetchval("SELECT count(*) FROM payments WHERE user_id = ANY($1::bigint[])",
                                [r["user_id"] for r in rows])
    return _split_population(Population(tag, base, payments=int(count)), rows, planted_each)


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]


def _array(values: tuple[str, ...]) -> str:
    """A text[] literal of internal constants (names, template keys: no quotes in them)."""
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]::text[]"


PAYMENT_TRIGGERS = frozenset({"deposit", "withdrawal"})


async def raised_users(session: Reader, program: Compiled, *, since: datetime, until: datetime,
                       batch: int = 2000) -> set[int]:
    """The clients a scenario raises over the population's history: a payment-triggered one by its
    test run over [since, until), any other by scoring every active client as of `until` (the
    schedule)."""
    if PAYMENT_TRIGGERS & set(program.triggers):
        run = await test_runs.test_run(session, program, None, since=since, until=until, max_hits=10**9)
        return {h.user_id for h in run.hits if h.draft_outcome != "allow"}
    version = engine.Version(0, 0, "bench", program)
    flagged: set[int] = set()
    cursor: int | None = 0
    while cursor is not None:
        scores, cursor = await engine.score_clients(session, [version], at=until, after_user_id=cursor, limit=batch)
        flagged |= {c.user_id for c in scores if c.scored.outcome != "allow"}
    return flagged
