"""Cross-tenant cases for trading accounts, deals, positions, instruments and wallets."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal

from domain.ledger.accounts import link_trading_account, wallets_of
from domain.ledger.wallets import deposit_to_wallet
from domain.shared.actor import system_actor
from domain.trading.accounts import AccountSpec, register_accounts
from domain.trading.models import TradingAccount
from domain.trading.servers import ServerConfig, upsert_server
from tests.tenancy.cases import Env, Probe, case


async def _owned_account(env: Env) -> tuple[int, int, int]:
    """(server id, login, trading account id) owned by the case's owner."""
    from sqlalchemy import select

    login = random.randint(10_000_000, 99_999_999)
    async with env.session_factory() as s, s.begin():
        server_id = await upsert_server(s, env.settings.secret_key.get_secret_value(), ServerConfig(
            f"tenancy-{uuid.uuid4().hex[:8]}", "http://127.0.0.1:9", 1000, "pw"))
        await register_accounts(s, server_id, [AccountSpec(login, "real\\standard", 100, "USD", user_id=env.owner_id)])
        await link_trading_account(s, user_id=env.owner_id, server_id=str(server_id), login=login, currency="USD")
        account_id = await s.scalar(select(TradingAccount.id).where(TradingAccount.server_id == server_id,
                                                                    TradingAccount.login == login))
    assert account_id is not None
    return server_id, login, int(account_id)


async def _funded_wallet(env: Env) -> tuple[int, str]:
    amount = f"{random.randint(1000, 9999)}.37"
    async with env.session_factory() as s, s.begin():
        await deposit_to_wallet(s, system_actor("tenancy"), user_id=env.owner_id, currency="USD",
                                amount=Decimal(amount), idempotency_key=uuid.uuid4().hex, reference="tenancy")
        wallets = await wallets_of(s, env.owner_id)
    return wallets[0].account.id, amount


@case("Query.tradingAccount")
async def trading_account(env: Env) -> Probe:
    _, login, account_id = await _owned_account(env)
    return Probe("query($i: ID!) { tradingAccount(id: $i) { id login } }", {"i": str(account_id)}, [str(login)])


@case("Query.deals")
async def deals(env: Env) -> Probe:
    _, login, account_id = await _owned_account(env)
    return Probe("query($i: ID!) { deals(accountId: $i) { nodes { dealId } } }", {"i": str(account_id)}, [str(login)])


@case("Query.positions")
async def positions(env: Env) -> Probe:
    _, login, account_id = await _owned_account(env)
    return Probe("query($i: ID!) { positions(accountId: $i) { nodes { symbol } } }", {"i": str(account_id)}, [str(login)])


@case("Query.instruments")
async def instruments(env: Env) -> Probe:
    server_id, _, _ = await _owned_account(env)
    return Probe("query($i: ID!) { instruments(serverId: $i) { symbol } }", {"i": str(server_id)})


@case("Query.walletTransactions")
async def wallet_transactions(env: Env) -> Probe:
    wallet_id, amount = await _funded_wallet(env)
    return Probe("query($w: ID!) { walletTransactions(walletId: $w) { nodes { amount } } }", {"w": str(wallet_id)},
                 [amount])


@case("Mutation.transferToTradingAccount", "Mutation.transferFromTradingAccount")
async def transfers(env: Env) -> Probe:
    _, _, account_id = await _owned_account(env)
    wallet_id, amount = await _funded_wallet(env)
    return Probe("""mutation($i: TransferToTradingAccountInput!) { transferToTradingAccount(input: $i) {
        errors { code } } }""", {"i": {"walletId": str(wallet_id), "tradingAccountId": str(account_id),
                                      "amount": "1.00",
                                      "idempotencyKey": uuid.uuid4().hex}}, [amount])


@case("Mutation.adjustBalance")
async def adjust_balance(env: Env) -> Probe:
    wallet_id, amount = await _funded_wallet(env)
    return Probe("""mutation($i: AdjustBalanceInput!) { adjustBalance(input: $i) { entryId errors { code } } }""",
                 {"i": {"walletId": str(wallet_id), "amount": "500.00", "reason": "tenancy probe",
                        "idempotencyKey": uuid.uuid4().hex}}, [amount])


async def _pending_adjustment(env: Env) -> tuple[str, str]:
    """A balance adjustment above the four-eyes threshold on the owner's wallet, requested by staff:
    (request id, its reason)."""
    wallet_id, _ = await _funded_wallet(env)
    reason = f"tenancy four-eyes {uuid.uuid4().hex[:8]}"
    made = await env.admin("""mutation($i: AdjustBalanceInput!) { adjustBalance(input: $i) {
        pending adjustmentId errors { code } } }""", {"i": {
        "walletId": str(wallet_id), "amount": "98765.43", "reason": reason, "idempotencyKey": uuid.uuid4().hex}})
    payload = made["data"]["adjustBalance"]
    assert payload["pending"] is True, made
    return str(payload["adjustmentId"]), reason


@case("Mutation.approveBalanceAdjustment")
async def approve_balance_adjustment(env: Env) -> Probe:
    rid, reason = await _pending_adjustment(env)
    return Probe("mutation($i: ID!) { approveBalanceAdjustment(id: $i) { adjustment { reason amount } "
                 "wallet { balance } errors { code } } }", {"i": rid}, [reason, "98765.43"])


@case("Mutation.rejectBalanceAdjustment")
async def reject_balance_adjustment(env: Env) -> Probe:
    rid, reason = await _pending_adjustment(env)
    return Probe("mutation($i: ID!) { rejectBalanceAdjustment(id: $i, reason: \"probe\") { adjustment { reason "
                 "amount } errors { code } } }", {"i": rid}, [reason, "98765.43"])


@case("Mutation.setTradingServerEnabled")
async def set_trading_server_enabled(env: Env) -> Probe:
    name = f"tenancy-{uuid.uuid4().hex[:8]}"
    async with env.session_factory() as s, s.begin():
        server_id = await upsert_server(s, env.settings.secret_key.get_secret_value(), ServerConfig(
            name, "http://127.0.0.1:9", 1000, "pw", enabled=False))
    return Probe("mutation($i: ID!) { setTradingServerEnabled(id: $i, enabled: true) { tradingServer { name } "
                 "errors { code } } }", {"i": str(server_id)}, [name])


@case("Mutation.resolveIngestionError")
async def resolve_ingestion_error(env: Env) -> Probe:
    from sqlalchemy import text

    server_id, _, _ = await _owned_account(env)
    detail = f"secret-detail-{uuid.uuid4().hex[:8]}"
    async with env.session_factory() as s, s.begin():
        error_id = await s.scalar(text(
            "INSERT INTO trading_ingestion_errors (server_id, kind, detail) VALUES (:s, 'unavailable', :d) "
            "RETURNING id"), {"s": server_id, "d": detail})
    return Probe("mutation($i: ID!) { resolveIngestionError(id: $i, note: \"probe\") { ingestionError { detail } "
                 "errors { code } } }", {"i": str(error_id)}, [detail])


@case("Mutation.exchange")
async def accept_quote(env: Env) -> Probe:
    """The owner's quote, accepted by an outsider: not found, and the quote stays the owner's to use."""
    from tests.fx.helpers import new_quote

    await _funded_wallet(env)
    quote = await new_quote(env.session_factory, env.owner_id, amount="10")
    return Probe("""mutation($i: ExchangeInput!) { exchange(input: $i) { exchange { bought } errors { code } } }""",
                 {"i": {"quoteId": quote, "idempotencyKey": uuid.uuid4().hex}}, [quote])


@case("Mutation.createAccountType", "Mutation.updateAccountType")
async def account_types(env: Env) -> Probe:
    """Staff configuration naming a trading server: an outsider is refused and learns nothing of it."""
    server_id, _, _ = await _owned_account(env)
    code = f"tenancy_{uuid.uuid4().hex[:8]}"
    return Probe("""mutation($i: AccountTypeInput!) { createAccountType(input: $i) { accountType { groupName }
        errors { code } } }""", {"i": {"code": code, "name": "T", "currencies": ["USD"], "serverId": str(server_id),
                                      "groupName": "real\\secret-group"}}, ["secret-group"])


@case("Query.node", "Query.nodes")
async def nodes(env: Env) -> Probe:
    """`node`/`nodes` answer null for what the caller may not see: the owner's wallet, trading account and
    withdrawal by global id, through both fields in one operation."""
    from schema.node import global_id
    from tests.tenancy.cases_payments import _withdrawal

    _, login, account_id = await _owned_account(env)
    wallet_id, amount = await _funded_wallet(env)
    payment_id, reference = await _withdrawal(env)
    ids = [global_id("TradingAccount", account_id), global_id("Wallet", wallet_id), global_id("Payment", payment_id)]
    return Probe("""query($ids: [ID!]!, $one: ID!) {
        one: node(id: $one) { id ... on TradingAccount { login } }
        many: nodes(ids: $ids) { id ... on TradingAccount { login } ... on Wallet { balance }
                                 ... on Payment { reference } } }""",
                 {"ids": ids, "one": ids[0]}, [str(login), amount.split(".")[0], reference], empty_ok=True)
