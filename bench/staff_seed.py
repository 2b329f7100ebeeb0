"""Many clients, fast, for the staff-list benchmarks and plan checks: set-based INSERT ... SELECT over
generate_series, with the trigram (GIN) indexes dropped during the load and built again after it,
as a migration from another CRM would do it.

Clients are spread the way a brokerage's are: most registered or active, a long tail of other
statuses; a few large countries and many small ones; ten desks and a share with no desk; creation
times over three years in id order, a few sharing the same instant (the keyset's id breaks the tie).
"""

from __future__ import annotations

import asyncpg

FIRST = ["anna", "maria", "lukas", "jonas", "sofia", "emma", "noah", "leon", "mia", "elias", "lena", "paul",
         "ahmed", "fatima", "olga", "ivan", "chen", "wei", "yuki", "kenji", "pierre", "claire", "marco", "giulia"]
_SYL = ["ka", "ri", "mo", "sen", "ber", "lin", "dor", "vak", "tel", "mar", "gun", "sol", "pet", "ram", "zu",
        "hof", "ste", "wic", "nov", "ash"]
# Weighted: the first entries repeat, so they hold most clients.
STATUSES = ["registered"] * 5 + ["active"] * 4 + ["email_verified", "profile_complete", "documents_submitted",
                                                  "under_review", "approved", "rejected", "dormant", "closed",
                                                  "blocked", "more_info_required"]
COUNTRIES = ["GB"] * 6 + ["DE"] * 5 + ["AE"] * 3 + ["ZA"] * 3 + ["CY", "FR", "IT", "ES", "NL", "PL", "SE", "MY",
                                                               "TH", "NG", "KE", "MX", "BR", "CL", "MT", "IE"]
DESKS = [f"desk-{i}" for i in range(10)]
# Dropped during the load and built again after it: the trigram (GIN) indexes and the search tokens' prefix
# index (migration 0070; the tokens themselves are written by triggers, row by row).
GIN_INDEXES = ("ix_clients_name_trgm", "ix_clients_phone_trgm", "ix_clients_search_trgm", "ix_users_email_trgm",
               "ix_client_search_tokens_prefix")


def surnames(n: int) -> list[str]:
    """n distinct surnames built from syllables, deterministic."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        k, name = i, ""
        for _ in range(2 + i % 3):
            name += _SYL[k % len(_SYL)]
            k //= len(_SYL)
        out.append(name + ("" if i < 8000 else str(i)))
        i += 1
    return out


async def seed_clients(conn: asyncpg.Connection, start: int, stop: int) -> None:
    """Clients numbered [start, stop) with their users; idempotent per range only (call once)."""
    indexes = [r["indexdef"] for r in await conn.fetch(
        "SELECT indexdef FROM pg_indexes WHERE indexname = ANY($1::text[])", list(GIN_INDEXES))]
    for name in GIN_INDEXES:
        await conn.execute(f"DROP INDEX IF EXISTS {name}")
    names = surnames(max(500, stop // 40))
    # Creation times: three years back to now, in number order, ten clients a second at the newest end
    # (1M over three years is about 95 s apart: several at one instant only through the rounding below).
    await conn.execute("""
        INSERT INTO users (email, email_normalized, is_client, created_at)
        SELECT e, e, true, t FROM (
            SELECT g, f[1 + g % array_length(f, 1)] || '.' || s[1 + (g * 7919) % array_length(s, 1)] || g
                   || '@mail' || (g % 50) || '.example' AS e,
                   date_trunc('minute', now() - make_interval(secs => (3 * 365 * 86400.0) * (1 - g::float8 / $4)))
                   AS t
            FROM generate_series($1::bigint, $2::bigint - 1) g, (SELECT $3::text[] AS f, $5::text[] AS s) a) x
        ORDER BY g""", start, stop, FIRST, 1_000_000, names)
    await conn.execute("""
        INSERT INTO clients (user_id, status, first_name, last_name, profile, desk, country, created_at, updated_at)
        SELECT u.id, st[1 + (u.id * 31) % array_length(st, 1)], initcap(split_part(u.email, '.', 1)),
               initcap(regexp_replace(split_part(split_part(u.email, '@', 1), '.', 2), '[0-9]+$', '')),
               jsonb_build_object('phone', '+44 20 ' || lpad(((u.id * 7919) % 100000000)::text, 8, '0')),
               CASE WHEN u.id % 7 = 0 THEN NULL ELSE ds[1 + u.id % array_length(ds, 1)] END,
               co[1 + (u.id * 13) % array_length(co, 1)], u.created_at, u.created_at
        FROM users u, (SELECT $1::text[] AS st, $2::text[] AS ds, $3::text[] AS co) a
        WHERE u.is_client AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.user_id = u.id)
        ORDER BY u.id""", STATUSES, DESKS, COUNTRIES)
    for definition in indexes:
        await conn.execute(definition)
    for table in ("users", "clients", "client_search_tokens"):
        await conn.execute(f"VACUUM ANALYZE {table}")
