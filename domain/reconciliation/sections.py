"""The four comparisons of a run, each one set-based statement filling the temp table recon_rows
(section, kind, key, ...): a full outer join of the two sides' aggregates, classified in SQL.

Parameters: :start < :cutoff is the window; :lo = start - grace and :hi = cutoff + grace bound
what each side may contribute, so a counterpart just after the cutoff turns a "missing" into a
`timing` break, and one just before the window start (yesterday's timing break) counts as matched.
A row is kept only when one of its sides falls inside the window.

(a) trading: ledger transfers posted (status done) vs platform balance operations (actions BALANCE,
    CHARGE, CORRECTION, BONUS, SO_COMPENSATION: everything that moves the balance outside trading),
    keyed by the external-id tag (`domain.platforms.external_id`, recomputed in SQL from the
    transfer's UUID); untagged operations are keyed by their deal id and can only be missing.
(b) psp: settled lines of imported reports vs postings to psp_clearing accounts, keyed by
    (provider, business reference = ledger entry ref_id, currency). The ledger side may be net of
    the PSP fee (a fee entry with the same reference), so either gross or gross - fee matches.
    A duplicate is two settled lines with the same reference and amount.
(c) integrity: each account's materialised balance (sum of its shards) vs the sum of its postings
    in its natural sign. Balances equal the sum of all postings at every instant, so comparing now
    is the same as comparing at the cutoff.
(d) balance: for each account's latest platform snapshot in (:snap_from, :cutoff] at time T:
        platform balance(T) = mirror(T) + P&L(T)
    where mirror(T) is the ledger mirror's balance from postings up to T (money moved by
    transfers) and P&L(T) the sum of profit + commission + storage + fee of ingested deals up to
    T whose action is NOT a balance operation (trades, commission, agent, interest, dividend,
    tax deals). Balance operations are deliberately left out: every one of them must have a
    ledger counterpart, so one done on the platform by hand shows here as well as in (a), and the
    difference equals the sum of such unmatched operations (or deals not yet ingested).
(e) client_money (CASS 7.16 internal client money reconciliation, the standard method), per currency
    at the close (the cutoff), each total rounded to the currency's scale (:cm_codes/:cm_scales):
        requirement = sum over clients of max(0, wallet balances + equity of real trading accounts)
        resource    = sum of the segregated bank and PSP balances recorded for the close date
    A client's wallet balance is its postings up to the cutoff; equity is the latest platform
    snapshot's (balance when a snapshot predates the equity column). A client whose net position is
    negative counts zero: a debit balance is not client money and must not offset others' money.
    resource - requirement < 0 is a `shortfall`, > 0 an `excess`; every line keeps its figures as
    evidence (also when matched: they are the day's result that is signed off).
    A bank resource fed by an imported statement's closing balance (domain/reconciliation/camt.py) names it.
(f) bank (external reconciliation against camt.053 statements): booked statement entries vs postings to the
    ledger's bank accounts (wire deposits, withdrawals and returns: purpose 'bank'), keyed by (our payment
    reference, currency): the reference is the ledger entry's ref_id on one side and the one found in the
    entry's EndToEndId or remittance information on the other; amounts signed (credit +, debit -) and summed
    per key, so a withdrawal and its return net out on both sides. A statement entry is placed at noon UTC of
    its booking date. Only currencies a statement covers at the close (a closing balance dated the close date)
    are judged, so a firm that imports no statement gets no bank breaks. A statement entry quoting no
    reference can only be `missing_in_ledger`; a ledger posting with no entry is `missing_in_bank`. Also each
    statement closing on the close date whose opening booked balance differs from the account's previous
    statement's closing balance is an `opening_balance_mismatch` (a statement missing between them, or the
    bank restated it).
"""

from __future__ import annotations

from sqlalchemy import text

from domain.reconciliation.camt import PREVIOUS_CLOSING

BALANCE_OP_ACTIONS = (2, 4, 5, 6, 19)  # move the balance; CREDIT (3, 20) only moves credit
NON_PNL_ACTIONS = (2, 3, 4, 5, 6, 19, 20)

CREATE_ROWS = text(
    """
    CREATE TEMP TABLE IF NOT EXISTS recon_rows (
        section text NOT NULL, kind text NOT NULL, key text NOT NULL, currency text,
        amount_diff numeric, ledger_ref text, other_ref text, amount numeric, evidence jsonb, cause text
    ) ON COMMIT DROP
    """
)

# base64url of the UUID's 16 bytes without padding = external_id_tag(str(uuid)).
_TAG = "rtrim(translate(encode(uuid_send(t.external_id), 'base64'), '+/', '-_'), '=')"
_UUID_OF_TAG = ("CASE WHEN p_tagged AND p_tag ~ '^[A-Za-z0-9_-]{22}$' THEN CAST(encode(decode("
                "translate(p_tag, '-_', '+/') || '==', 'base64'), 'hex') AS uuid) END")

TRADING = text(  # constants only are interpolated
    f"""
    INSERT INTO recon_rows
    WITH led AS (
        SELECT {_TAG} AS l_tag, t.id AS l_id, t.external_id AS l_xid, t.entry_id AS l_entry,
               t.server_id AS l_server, t.login AS l_login, t.currency AS l_currency,
               CASE WHEN t.direction = 'to_account' THEN t.amount ELSE -t.amount END AS l_amount,
               e.created_at AS l_at
        FROM ledger_entries e JOIN ledger_transfers t ON t.entry_id = e.id
        WHERE e.ref_kind = 'transfer' AND t.status = 'done' AND e.created_at > :lo AND e.created_at <= :hi
    ), plat AS (
        SELECT coalesce(external_tag, 'deal:' || server_id || ':' || deal_id) AS p_tag,
               external_tag IS NOT NULL AS p_tagged, count(*) AS p_n,
               count(*) - count(DISTINCT amount) AS p_repeats, sum(amount) AS p_amount,
               min(time) AS p_at, max(time) AS p_last, min(server_id)::text AS p_server, min(login) AS p_login,
               array_agg(deal_id ORDER BY deal_id) AS p_deals
        FROM trading_balance_operations
        WHERE action IN {BALANCE_OP_ACTIONS} AND time > :lo AND time <= :hi
        GROUP BY 1, 2
    ), j AS (
        SELECT *, CASE
            WHEN l_tag IS NULL THEN 'missing_in_ledger'
            WHEN p_tag IS NULL THEN 'missing_on_platform'
            WHEN p_n > 1 THEN 'duplicate'
            WHEN l_amount <> p_amount THEN 'amount_mismatch'
            WHEN l_server <> p_server OR l_login <> p_login THEN 'account_mismatch'
            WHEN l_at > :cutoff OR p_at > :cutoff THEN 'timing'
            ELSE 'matched' END AS kind
        FROM led l FULL JOIN plat p ON p.p_tag = l.l_tag
        WHERE (l_at > :start AND l_at <= :cutoff) OR (p_at > :start AND p_at <= :cutoff)
    )
    SELECT 'trading', j.kind, coalesce(l_tag, p_tag), l_currency,
           coalesce(p_amount, 0) - coalesce(l_amount, 0),
           'transfer:' || l_id, 'deal:' || p_server || ':' || p_deals[1], coalesce(l_amount, p_amount),
           CASE WHEN j.kind <> 'matched' THEN jsonb_build_object(
               'ledger', CASE WHEN l_tag IS NOT NULL THEN jsonb_build_object(
                   'transferId', l_id, 'externalId', l_xid, 'entryId', l_entry, 'serverId', l_server,
                   'login', l_login, 'amount', trim_scale(l_amount)::text, 'currency', l_currency,
                   'postedAt', l_at) END,
               'platform', CASE WHEN p_tag IS NOT NULL THEN jsonb_build_object(
                   'serverId', p_server, 'login', p_login, 'dealIds', p_deals, 'operations', p_n,
                   'amount', trim_scale(p_amount)::text, 'firstAt', p_at, 'lastAt', p_last, 'tagged', p_tagged) END,
               'transferFound', CASE WHEN ot.id IS NOT NULL THEN jsonb_build_object(
                   'transferId', ot.id, 'status', ot.status, 'postedAt', ot.posted_at) END) END,
           CASE j.kind
               WHEN 'matched' THEN NULL
               WHEN 'missing_in_ledger' THEN CASE
                   WHEN NOT p_tagged THEN 'balance operation made on the platform without our external id '
                       || '(by hand?): book it in the ledger or reverse it on the platform'
                   WHEN ot.id IS NULL THEN 'the operation carries an external id no ledger transfer has'
                   WHEN ot.status IN ('pending', 'unknown') THEN 'transfer ' || ot.id || ' is still ' || ot.status
                       || ': transfer recovery should post it once the platform confirms'
                   WHEN ot.status = 'failed' THEN 'transfer ' || ot.id
                       || ' was marked failed but the platform applied it: post it with an adjustment'
                   ELSE 'transfer ' || ot.id || ' was posted outside the window, at ' || ot.posted_at END
               WHEN 'missing_on_platform' THEN 'posted in the ledger, but no platform balance operation carries '
                   || 'its external id: look it up on the platform (lost, or reversed there by hand?)'
               WHEN 'duplicate' THEN 'the platform applied the operation ' || p_n
                   || ' times (a retried request?): reverse the extra ones on the platform'
               WHEN 'amount_mismatch' THEN 'platform and ledger amounts differ by '
                   || trim_scale(coalesce(p_amount, 0) - coalesce(l_amount, 0))
                   || ': compare the operation with the entry'
               WHEN 'account_mismatch' THEN 'the operation landed on another account than the transfer names'
               ELSE 'the two sides fall either side of the cutoff: should clear in the next run' END
    FROM j
    LEFT JOIN LATERAL (
        SELECT t.id, t.status, e.created_at AS posted_at FROM ledger_transfers t
        LEFT JOIN ledger_entries e ON e.id = t.entry_id
        WHERE t.external_id = {_UUID_OF_TAG}
    ) ot ON j.kind = 'missing_in_ledger'
    """  # noqa: S608
)

PSP = text(
    """
    INSERT INTO recon_rows
    WITH led AS (
        SELECT a.provider AS l_provider, e.ref_id AS l_ref, p.currency AS l_currency,
               count(DISTINCT e.id) AS l_n, sum(p.amount) AS l_amount, min(e.created_at) AS l_at,
               array_agg(DISTINCT e.id) AS l_entries
        FROM ledger_accounts a
        JOIN ledger_postings p ON p.account_id = a.id
        JOIN ledger_entries e ON e.id = p.entry_id
        WHERE a.purpose = 'psp_clearing' AND p.created_at > :lo AND p.created_at <= :hi
        GROUP BY 1, 2, 3
    ), psp AS (
        SELECT provider AS p_provider, reference AS p_ref, currency AS p_currency, count(*) AS p_n,
               count(*) - count(DISTINCT amount) AS p_repeats, sum(amount) AS p_amount, sum(fee) AS p_fee,
               min(settled_at) AS p_at, max(settled_at) AS p_last, array_agg(id ORDER BY id) AS p_lines,
               array_agg(DISTINCT report_id) AS p_reports
        FROM reconciliation_settlement_lines
        WHERE status = 'settled' AND settled_at > :lo AND settled_at <= :hi
        GROUP BY 1, 2, 3
    ), j AS (
        SELECT *, CASE
            WHEN l_ref IS NULL THEN 'missing_in_ledger'
            WHEN p_ref IS NULL THEN 'missing_at_psp'
            WHEN p_repeats > 0 THEN 'duplicate'
            WHEN l_amount <> p_amount AND l_amount <> p_amount - p_fee THEN 'amount_mismatch'
            WHEN l_at > :cutoff OR p_at > :cutoff THEN 'timing'
            ELSE 'matched' END AS kind
        FROM led l FULL JOIN psp p
            ON p.p_provider = l.l_provider AND p.p_ref = l.l_ref AND p.p_currency = l.l_currency
        WHERE (l_at > :start AND l_at <= :cutoff) OR (p_at > :start AND p_at <= :cutoff)
    )
    SELECT 'psp', kind,
           coalesce(l_provider, p_provider) || ':' || coalesce(l_ref, p_ref) || ':' || coalesce(l_currency, p_currency),
           coalesce(l_currency, p_currency), coalesce(p_amount, 0) - coalesce(l_amount, 0),
           'entry:' || l_entries[1], 'line:' || p_lines[1], coalesce(l_amount, p_amount),
           CASE WHEN kind <> 'matched' THEN jsonb_build_object(
               'ledger', CASE WHEN l_ref IS NOT NULL THEN jsonb_build_object(
                   'provider', l_provider, 'reference', l_ref, 'entryIds', l_entries,
                   'amount', trim_scale(l_amount)::text,
                   'currency', l_currency, 'postedAt', l_at) END,
               'psp', CASE WHEN p_ref IS NOT NULL THEN jsonb_build_object(
                   'provider', p_provider, 'reference', p_ref, 'lineIds', p_lines, 'reportIds', p_reports,
                   'lines', p_n, 'amount', trim_scale(p_amount)::text, 'fee', trim_scale(p_fee)::text,
                   'currency', p_currency,
                   'firstSettledAt', p_at, 'lastSettledAt', p_last) END) END,
           CASE kind
               WHEN 'matched' THEN NULL
               WHEN 'missing_in_ledger' THEN 'settled by the PSP but never posted in the ledger: a dropped or '
                   || 'failed webhook? post the payment'
               WHEN 'missing_at_psp' THEN 'posted in the ledger but in no settled report line: not yet settled, '
                   || 'report not imported, or a payment the PSP never received'
               WHEN 'duplicate' THEN 'the PSP reports the same amount ' || p_n || ' times for this reference: a '
                   || 'duplicated report line, or a double charge to refund'
               WHEN 'amount_mismatch' THEN 'PSP and ledger amounts differ by '
                   || trim_scale(coalesce(p_amount, 0) - coalesce(l_amount, 0)) || ' (fee ' || trim_scale(p_fee) || ')'
               ELSE 'the two sides fall either side of the cutoff: should clear in the next run' END
    FROM j
    """
)

INTEGRITY = text(
    """
    INSERT INTO recon_rows (section, kind, key, currency, amount_diff, evidence, cause)
    WITH b AS (SELECT account_id, sum(balance) AS total FROM ledger_balances GROUP BY 1),
         p AS (SELECT account_id, sum(amount) AS total FROM ledger_postings GROUP BY 1),
         j AS (
            SELECT a.id, a.purpose, a.currency, b.total AS materialised,
                   coalesce(p.total, 0) * CASE WHEN a.type IN ('asset', 'expense') THEN 1 ELSE -1 END AS from_postings
            FROM ledger_accounts a JOIN b ON b.account_id = a.id LEFT JOIN p ON p.account_id = a.id)
    SELECT 'integrity', CASE WHEN materialised = from_postings THEN 'matched' ELSE 'balance_drift' END,
           'account:' || id, currency, materialised - from_postings,
           CASE WHEN materialised <> from_postings THEN jsonb_build_object(
               'accountId', id, 'purpose', purpose, 'materialisedBalance', trim_scale(materialised)::text,
               'sumOfPostings', trim_scale(from_postings)::text) END,
           CASE WHEN materialised <> from_postings THEN 'the materialised balance drifted from its postings: '
               || 'a balance row was changed outside posting (manual SQL?); restore it from the postings' END
    FROM j
    """
)

BALANCE = text(  # constants only are interpolated
    f"""
    INSERT INTO recon_rows (section, kind, key, currency, amount_diff, evidence, cause)
    WITH snap AS (
        SELECT DISTINCT ON (server_id, login) server_id, login, captured_at, currency, balance,
               CASE WHEN server_id ~ '^[0-9]{{1,18}}$' THEN CAST(server_id AS bigint) END AS sid
        FROM reconciliation_platform_balances
        WHERE captured_at > :snap_from AND captured_at <= :cutoff
        ORDER BY server_id, login, captured_at DESC
    ), mir AS (
        SELECT s.server_id, s.login, a.id AS account_id, -coalesce(sum(p.amount), 0) AS mirror
        FROM snap s
        JOIN ledger_accounts a ON a.purpose = 'trading_account_mirror' AND a.server_id = s.server_id
            AND a.login = s.login
        LEFT JOIN ledger_postings p ON p.account_id = a.id AND p.created_at <= s.captured_at
        GROUP BY 1, 2, 3
    ), pnl AS (
        SELECT s.server_id, s.login, count(*) AS deals, sum(d.profit + d.commission + d.storage + d.fee) AS pnl
        FROM snap s
        JOIN trading_deals d ON d.server_id = s.sid AND d.login = s.login AND d.time <= s.captured_at
        WHERE d.action NOT IN {NON_PNL_ACTIONS}
        GROUP BY 1, 2
    ), j AS (
        SELECT s.*, m.account_id, m.mirror, coalesce(x.pnl, 0) AS pnl, coalesce(x.deals, 0) AS deals,
               s.balance - coalesce(m.mirror, 0) - coalesce(x.pnl, 0) AS diff
        FROM snap s
        LEFT JOIN mir m ON m.server_id = s.server_id AND m.login = s.login
        LEFT JOIN pnl x ON x.server_id = s.server_id AND x.login = s.login
    )
    SELECT 'balance', CASE WHEN account_id IS NOT NULL AND diff = 0 THEN 'matched' ELSE 'balance_mismatch' END,
           server_id || ':' || login, currency, diff,
           CASE WHEN account_id IS NULL OR diff <> 0 THEN jsonb_build_object(
               'serverId', server_id, 'login', login, 'capturedAt', captured_at,
               'platformBalance', trim_scale(balance)::text, 'mirrorAccountId', account_id,
               'mirrorBalance', trim_scale(mirror)::text,
               'pnlFromDeals', trim_scale(pnl)::text, 'pnlDeals', deals,
               'formula', 'platformBalance - (mirrorBalance + pnlFromDeals)') END,
           CASE WHEN account_id IS NULL THEN 'the platform reports this login but the ledger has no mirror for it'
                WHEN diff <> 0 THEN 'platform balance differs from ledger mirror + P&L by ' || diff
                    || ': balance operations missing in the ledger (see trading breaks) or deals not yet ingested'
           END
    FROM j
    """  # noqa: S608
)

CLIENT_MONEY = text(
    """
    INSERT INTO recon_rows (section, kind, key, currency, amount_diff, evidence, cause)
    WITH sc AS (
        SELECT * FROM unnest(CAST(:cm_codes AS text[]), CAST(:cm_scales AS int[])) AS s(currency, scale)
    ), posted AS (
        SELECT p.account_id, sum(p.amount) AS total FROM ledger_postings p
        JOIN ledger_accounts a ON a.id = p.account_id AND a.purpose = 'client_wallet'
        WHERE p.created_at <= :cutoff GROUP BY 1
    ), wal AS (
        SELECT a.owner_id::text AS client, a.currency,
               coalesce(x.total, 0) * CASE WHEN a.type IN ('asset', 'expense') THEN 1 ELSE -1 END AS wallet,
               0::numeric AS equity
        FROM ledger_accounts a LEFT JOIN posted x ON x.account_id = a.id
        WHERE a.purpose = 'client_wallet'
    ), snap AS (
        SELECT DISTINCT ON (server_id, login) server_id, login, currency, coalesce(equity, balance) AS equity,
               CASE WHEN server_id ~ '^[0-9]{1,18}$' THEN CAST(server_id AS bigint) END AS sid
        FROM reconciliation_platform_balances
        WHERE captured_at > :snap_from AND captured_at <= :cutoff
        ORDER BY server_id, login, captured_at DESC
    ), eq AS (
        SELECT coalesce(t.user_id, m.owner_id)::text AS client0, s.server_id, s.login, s.currency, s.equity
        FROM snap s
        LEFT JOIN trading_accounts t ON t.server_id = s.sid AND t.login = s.login
        LEFT JOIN ledger_accounts m ON m.purpose = 'trading_account_mirror' AND m.server_id = s.server_id
            AND m.login = s.login
        WHERE coalesce(t.account_type, 'real') = 'real'
    ), per_client AS (
        SELECT client, currency, sum(wallet) AS wallet, sum(equity) AS equity FROM (
            SELECT client, currency, wallet, equity FROM wal
            UNION ALL
            SELECT coalesce(client0, 'login:' || server_id || ':' || login), currency, 0, equity FROM eq
        ) u GROUP BY 1, 2
    ), req AS (
        SELECT currency, count(*) FILTER (WHERE wallet + equity > 0) AS clients,
               sum(wallet) AS wallets, sum(equity) AS equity,
               count(*) FILTER (WHERE wallet + equity < 0) AS negative_clients,
               coalesce(-sum(wallet + equity) FILTER (WHERE wallet + equity < 0), 0) AS negative_floored,
               sum(greatest(wallet + equity, 0)) AS requirement
        FROM per_client GROUP BY 1
    ), res AS (
        SELECT currency, sum(balance) AS resource, coalesce(sum(balance) FILTER (WHERE kind = 'bank'), 0) AS bank,
               coalesce(sum(balance) FILTER (WHERE kind = 'psp'), 0) AS psp,
               jsonb_agg(jsonb_build_object('kind', kind, 'account', account, 'balance', trim_scale(balance)::text,
                                            'statementId', statement_id)
                         ORDER BY kind, account) AS accounts
        FROM client_money_resources WHERE as_of = :close_date GROUP BY 1
    ), j AS (
        SELECT coalesce(q.currency, r.currency) AS cur, coalesce(sc.scale, 8) AS scale, q.clients, q.negative_clients,
               round(coalesce(q.wallets, 0), coalesce(sc.scale, 8)) AS wallets,
               round(coalesce(q.equity, 0), coalesce(sc.scale, 8)) AS equity,
               round(coalesce(q.negative_floored, 0), coalesce(sc.scale, 8)) AS floored,
               round(coalesce(q.requirement, 0), coalesce(sc.scale, 8)) AS requirement,
               round(coalesce(r.resource, 0), coalesce(sc.scale, 8)) AS resource,
               round(coalesce(r.bank, 0), coalesce(sc.scale, 8)) AS bank,
               round(coalesce(r.psp, 0), coalesce(sc.scale, 8)) AS psp, r.accounts
        FROM req q FULL JOIN res r ON r.currency = q.currency
        LEFT JOIN sc ON sc.currency = coalesce(q.currency, r.currency)
    )
    SELECT 'client_money',
           CASE WHEN resource = requirement THEN 'matched' WHEN resource < requirement THEN 'shortfall'
                ELSE 'excess' END,
           cur, cur, resource - requirement,
           jsonb_build_object(
               'closeDate', CAST(:close_date AS date), 'currency', cur, 'scale', scale,
               'clients', coalesce(clients, 0), 'negativeClients', coalesce(negative_clients, 0),
               'walletBalances', wallets::text, 'tradingEquity', equity::text,
               'negativeFloored', floored::text, 'requirement', requirement::text,
               'bankBalances', bank::text, 'pspBalances', psp::text, 'resource', resource::text,
               'difference', (resource - requirement)::text, 'resourceAccounts', coalesce(accounts, '[]'),
               'formula', 'resource - requirement; requirement = sum per client of max(0, wallets + equity)'),
           CASE WHEN resource < requirement THEN 'client money shortfall of ' || (requirement - resource)
                    || ' ' || cur || ': top up the segregated accounts from firm money today, then find the cause'
                WHEN resource > requirement THEN 'client money excess of ' || (resource - requirement) || ' '
                    || cur || ': withdraw it to the firm, or find client money not booked (or a missed balance)'
           END
    FROM j
    """
)

# Noon UTC of an entry's booking date.
_BOOKED_AT = "((x.booking_date + time '12:00') AT TIME ZONE 'UTC')"

BANK = text(  # constants only are interpolated
    f"""
    INSERT INTO recon_rows
    WITH cov AS (
        SELECT DISTINCT currency FROM bank_statement_balances WHERE type = 'CLBD' AND as_of = :close_date
    ), led AS (
        SELECT e.ref_id AS l_ref, p.currency AS l_currency, count(DISTINCT e.id) AS l_n,
               sum(p.amount * CASE WHEN a.type IN ('asset', 'expense') THEN 1 ELSE -1 END) AS l_amount,
               min(e.created_at) AS l_at, array_agg(DISTINCT e.id) AS l_entries,
               array_agg(DISTINCT e.ref_kind) AS l_kinds
        FROM ledger_accounts a
        JOIN ledger_postings p ON p.account_id = a.id
        JOIN ledger_entries e ON e.id = p.entry_id
        WHERE a.purpose = 'bank' AND a.currency IN (SELECT currency FROM cov)
          AND p.created_at > :lo AND p.created_at <= :hi
        GROUP BY 1, 2
    ), bnk AS (
        SELECT coalesce(x.reference, 'entry:' || s.iban || ':' || s.statement_id || ':' || x.line_no) AS b_ref,
               x.reference IS NOT NULL AS b_quoted, x.currency AS b_currency, count(*) AS b_n,
               count(*) - count(DISTINCT CASE WHEN x.credit THEN x.amount ELSE -x.amount END) AS b_repeats,
               sum(CASE WHEN x.credit THEN x.amount ELSE -x.amount END) AS b_amount,
               min({_BOOKED_AT}) AS b_at, min(x.booking_date) AS b_first, max(x.booking_date) AS b_last,
               jsonb_agg(jsonb_build_object(
                   'statementId', s.id, 'iban', s.iban, 'statement', s.statement_id, 'lineNo', x.line_no,
                   'acctSvcrRef', x.acct_svcr_ref, 'endToEndId', x.end_to_end_id,
                   'amount', trim_scale(CASE WHEN x.credit THEN x.amount ELSE -x.amount END)::text,
                   'bookingDate', x.booking_date, 'valueDate', x.value_date, 'remittance', left(x.remittance, 140))
                   ORDER BY s.id, x.line_no) AS b_entries,
               min(s.id) AS b_statement, min(x.line_no) AS b_line
        FROM bank_statement_entries x JOIN bank_statements s ON s.id = x.statement_id
        WHERE x.status = 'BOOK' AND x.currency IN (SELECT currency FROM cov)
          AND x.booking_date BETWEEN CAST((:lo AT TIME ZONE 'UTC') AS date) AND CAST((:hi AT TIME ZONE 'UTC') AS date)
          AND {_BOOKED_AT} > :lo AND {_BOOKED_AT} <= :hi
        GROUP BY 1, 2, 3
    ), j AS (
        SELECT *, CASE
            WHEN l_ref IS NULL THEN 'missing_in_ledger'
            WHEN b_ref IS NULL THEN 'missing_in_bank'
            WHEN b_repeats > 0 THEN 'duplicate'
            WHEN l_amount <> b_amount THEN 'amount_mismatch'
            WHEN l_at > :cutoff OR b_at > :cutoff THEN 'timing'
            ELSE 'matched' END AS kind
        FROM led l FULL JOIN bnk b ON b.b_ref = l.l_ref AND b.b_currency = l.l_currency
        WHERE (l_at > :start AND l_at <= :cutoff) OR (b_at > :start AND b_at <= :cutoff)
    )
    SELECT 'bank', kind, coalesce(l_ref, b_ref) || ':' || coalesce(l_currency, b_currency),
           coalesce(l_currency, b_currency), coalesce(b_amount, 0) - coalesce(l_amount, 0),
           'entry:' || l_entries[1], 'statement:' || b_statement || ':' || b_line, coalesce(l_amount, b_amount),
           CASE WHEN kind <> 'matched' THEN jsonb_build_object(
               'ledger', CASE WHEN l_ref IS NOT NULL THEN jsonb_build_object(
                   'reference', l_ref, 'entryIds', l_entries, 'refKinds', l_kinds, 'amount', trim_scale(l_amount)::text,
                   'currency', l_currency, 'postedAt', l_at) END,
               'bank', CASE WHEN b_ref IS NOT NULL THEN jsonb_build_object(
                   'reference', CASE WHEN b_quoted THEN b_ref END, 'entries', b_entries,
                   'amount', trim_scale(b_amount)::text, 'currency', b_currency,
                   'firstBookedOn', b_first, 'lastBookedOn', b_last) END) END,
           CASE kind
               WHEN 'matched' THEN NULL
               WHEN 'missing_in_ledger' THEN CASE WHEN b_quoted
                   THEN 'booked by the bank quoting ' || b_ref || ', but the ledger has no bank posting for it: '
                       || 'credit the wire deposit (import the statement in payments) or book the movement'
                   ELSE 'booked by the bank quoting none of our payment references: identify the payer, then book '
                       || 'it (a client''s wire with a mistyped reference, bank fees or interest)' END
               WHEN 'missing_in_bank' THEN 'posted to the bank account in the ledger but in no booked statement '
                   || 'entry: not yet booked (see the next statement), or a payment the bank never made'
               WHEN 'duplicate' THEN 'the bank booked the same amount ' || b_n || ' times quoting ' || b_ref
                   || ': a client paying twice (refund one) or a duplicated statement'
               WHEN 'amount_mismatch' THEN 'bank and ledger amounts differ by '
                   || trim_scale(coalesce(b_amount, 0) - coalesce(l_amount, 0))
                   || ': a partial payment, bank charges deducted, or a wrong amount booked'
               ELSE 'the two sides fall either side of the cutoff: should clear in the next run' END
    FROM j
    UNION ALL
    SELECT 'bank', CASE WHEN opening = previous THEN 'matched' ELSE 'opening_balance_mismatch' END,
           'opening:' || iban || ':' || statement_id || ':' || currency, currency, opening - previous,
           NULL, 'statement:' || id, opening,
           CASE WHEN opening <> previous THEN jsonb_build_object(
               'iban', iban, 'statementId', id, 'statement', statement_id, 'closingDate', closing_date,
               'opening', trim_scale(opening)::text, 'previousClosing', trim_scale(previous)::text,
               'previousStatementId', previous_id, 'previousStatement', previous_statement) END,
           CASE WHEN opening <> previous THEN 'the opening booked balance differs from the previous statement''s '
               || 'closing balance by ' || trim_scale(opening - previous)
               || ': a statement is missing between them, or the bank restated one' END
    FROM ({PREVIOUS_CLOSING} WHERE s.closing_date = :close_date) o
    """  # noqa: S608
)

SECTIONS = (("trading", TRADING), ("psp", PSP), ("integrity", INTEGRITY), ("balance", BALANCE),
            ("client_money", CLIENT_MONEY), ("bank", BANK))
