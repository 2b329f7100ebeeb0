"""Word-prefix search for the staff client list: each client's search words, kept by triggers, in two
shapes.

- `clients.search_tokens`: the words as one string, each preceded by a space (' anna kariber ...'),
  so "a word starts with w" is `search_tokens LIKE '% w%'`, checked on the client's row or while
  walking the newest-first index that carries it (ix_clients_newest_tokens, index-only).
- `client_search_tokens`: one row per (client, word) with the client's creation time, btree on
  (token, created_at, client_id) in C collation: the clients having a word that starts with w are one
  index range scan, counted (up to a bound) before a page is read, so the list knows whether w is
  rare (take its few clients, newest first) or common (walk the newest clients, stop after a page).

The words (`client_search_tokens(...)`): the name's words; the e-mail whole, its local part's
pieces after the first (split at . _ + -), its domain; the phone's digits, and those after the
country code; the client's number. Lower-cased and accent-folded (unaccent), as the query's words are
(`client_search_words`), so "jose" finds José. This replaces ix_clients_newest_text (the
substring walk, whose list code is gone); search_text and its trigram index stay for searchClients.

Revision ID: 0070_client_search_tokens
Revises: 0065_report_schedules
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0070_client_search_tokens"
down_revision = "0065_report_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        r"""
        CREATE EXTENSION IF NOT EXISTS unaccent;

        -- unaccent() is STABLE only because its dictionary could be changed; it is not, here.
        CREATE FUNCTION client_search_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT lower(unaccent('unaccent'::regdictionary, t)) $$;

        CREATE FUNCTION client_search_tokens(first_name text, last_name text, email text, phone text,
                                             client_id bigint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$
            SELECT ' ' || string_agg(DISTINCT w, ' ' ORDER BY w) FROM (
                SELECT regexp_split_to_table(client_search_fold(coalesce(first_name, '') || ' '
                                                                || coalesce(last_name, '')), '\s+') AS w
                UNION ALL SELECT client_search_fold(email)
                UNION ALL SELECT unnest((regexp_split_to_array(client_search_fold(split_part(email, '@', 1)),
                                                               '[._+-]+'))[2:])
                UNION ALL SELECT client_search_fold(split_part(email, '@', 2))
                UNION ALL SELECT regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g')
                UNION ALL SELECT regexp_replace(substring(phone FROM '^\s*\+\s*[0-9]+[^0-9]+(.*)$'), '[^0-9]', '', 'g')
                UNION ALL SELECT client_id::text
            ) x WHERE w <> '' AND w !~ '\s'
        $$;

        -- A query's words, normalised as the tokens are; a query of phone characters only is one
        -- word of its digits ("+44 20 1234-5678" finds 442012345678).
        CREATE FUNCTION client_search_words(q text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$
            SELECT CASE WHEN q ~ '^[\s0-9+().-]*[0-9][\s0-9+().-]*$'
                        THEN ARRAY[regexp_replace(q, '[^0-9]', '', 'g')]
                        ELSE array_remove(regexp_split_to_array(client_search_fold(btrim(q)), '\s+'), '') END
        $$;

        ALTER TABLE clients ADD COLUMN search_tokens text;
        ALTER TABLE clients ALTER COLUMN search_tokens SET STATISTICS 1000;

        CREATE TABLE client_search_tokens (
            client_id bigint NOT NULL,
            token text COLLATE "C" NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (client_id, token)
        );

        CREATE FUNCTION clients_search_tokens_fill() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.search_tokens := client_search_tokens(NEW.first_name, NEW.last_name,
                (SELECT email_normalized FROM users WHERE id = NEW.user_id), NEW.profile->>'phone', NEW.id);
            RETURN NEW;
        END $$;
        -- search_text is rewritten when the account's e-mail changes (users_search_text_copy, 0038).
        CREATE TRIGGER clients_search_tokens_fill BEFORE INSERT OR UPDATE OF user_id, first_name, last_name,
            profile, search_text ON clients FOR EACH ROW EXECUTE FUNCTION clients_search_tokens_fill();

        CREATE FUNCTION clients_search_tokens_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                DELETE FROM client_search_tokens WHERE client_id = OLD.id;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO client_search_tokens (client_id, token, created_at)
                SELECT NEW.id, t, NEW.created_at FROM unnest(string_to_array(btrim(NEW.search_tokens), ' ')) t;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER clients_search_tokens_insert AFTER INSERT OR DELETE ON clients
            FOR EACH ROW EXECUTE FUNCTION clients_search_tokens_sync();
        -- Not UPDATE OF: the tokens change through the fill trigger, never in an UPDATE's SET list.
        CREATE TRIGGER clients_search_tokens_update AFTER UPDATE ON clients FOR EACH ROW WHEN (OLD.search_tokens IS DISTINCT FROM NEW.search_tokens
                               OR OLD.created_at IS DISTINCT FROM NEW.created_at)
            EXECUTE FUNCTION clients_search_tokens_sync();

        UPDATE clients SET search_text = search_text;  -- the fill trigger computes them, the sync trigger copies them
        ALTER TABLE clients ALTER COLUMN search_tokens SET NOT NULL;

        CREATE INDEX ix_client_search_tokens_prefix ON client_search_tokens (token, created_at, client_id);
        DROP INDEX ix_clients_newest_text;
        CREATE INDEX ix_clients_newest_tokens ON clients (created_at, id) INCLUDE (search_tokens);
        ANALYZE clients;
        ANALYZE client_search_tokens;
        """
    )


def downgrade() -> None:
    run_sql(
        r"""
        DROP INDEX ix_clients_newest_tokens;
        CREATE INDEX ix_clients_newest_text ON clients (created_at, id) INCLUDE (search_text);
        DROP TRIGGER clients_search_tokens_update ON clients;
        DROP TRIGGER clients_search_tokens_insert ON clients;
        DROP FUNCTION clients_search_tokens_sync();
        DROP TRIGGER clients_search_tokens_fill ON clients;
        DROP FUNCTION clients_search_tokens_fill();
        DROP TABLE client_search_tokens;
        ALTER TABLE clients DROP COLUMN search_tokens;
        DROP FUNCTION client_search_words(text);
        DROP FUNCTION client_search_tokens(text, text, text, text, bigint);
        DROP FUNCTION client_search_fold(text);
        """
    )
