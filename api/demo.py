"""Development-only demo data: a whole brokerage, seeded by `forexcrm run` after migrations.

Everything goes through the domain services the GraphQL mutations call (audited, validated), never
raw SQL: the simulators registered as trading servers; payment methods pointing at the providers'
stand-ins (Stripe card USD/EUR, Praxis local, CoinsPaid BTC/USDT, bank wire); FX rates refreshed from
the ECB stand-in; account types on the simulator; an IB and a sub-IB under a hybrid plan (per lot +
revenue share) with referral links; a client registered through the sub-IB's link and onboarded
(profile, Sumsub verdict through the webhook's own path, questionnaire, staff approval), with wallets
funded by a staff balance adjustment (domain.ledger.wallets.adjust_balance: the documented way to
put money in a wallet without a PSP) and live accounts funded by wallet transfers, which the
simulator's traders then trade; risk group books (A/B/hybrid) for the simulator's groups, exposure
limits and the sample economic calendar.

Idempotent: a restart on the same data folder finds each piece and leaves it (every step checks
first or is idempotent by key). Credentials are generated once and kept in the data folder (never
in the repository). A step that fails is logged and the rest still runs: the demo never stops
`forexcrm run`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity import roles
from domain.identity.models import User
from domain.identity.sessions import create_user
from domain.payments.bank_details import BankDetails
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import SessionFactory, create_engine, create_session_factory, in_transaction
from domain.shared.pagination import PageRequest
from domain.shared.settings import Settings
from sandbox.launcher import SimulatorProcess, register_dev_servers

log = logging.getLogger(__name__)

ADMIN_EMAIL = "admin@demo.example.com"
CLIENT_EMAIL = "client@demo.example.com"
IB_EMAIL = "ib@demo.example.com"
SUB_IB_EMAIL = "subib@demo.example.com"
# Who may sign in: (email, staff role or None). The IB and the sub-IB sign in as clients do.
# A second administrator: every four-eyes step (staff and role changes, scenario activation, goAML approval,
# erasure, client-money sign-off) needs someone other than who asked, so the demo can try them through the API.
OFFICER_EMAIL = "officer@demo.example.com"
DEMO_STAFF = ((ADMIN_EMAIL, "administrator", "Demo Admin"), (OFFICER_EMAIL, "administrator", "Demo Officer"))
DEMO_USERS = (*((email, role) for email, role, _name in DEMO_STAFF), (CLIENT_EMAIL, None))
DEMO_IBS = (IB_EMAIL, SUB_IB_EMAIL)

PLAN_NAME = "Demo hybrid plan"
DATA = Path(__file__).resolve().parent.parent / "domain" / "risk" / "data"
# The simulator's groups (sandbox/simulator/engine.py) and their books.
GROUP_BOOKS = (("real\\standard", "B", None), ("real\\raw", "HYBRID", Decimal("40")), ("real\\pro", "A", None))
ACCOUNT_TYPES = (("standard", "Standard", "spread", "real\\standard"), ("raw", "Raw spread", "commission", "real\\raw"))
WALLETS = (("USD", Decimal("10000")), ("EUR", Decimal("5000")))
DEMO_BANK_ACCOUNT = BankDetails(iban="DE89370400440532013000", bic="COBADEFFXXX", beneficiary_name="Demo Brokerage Ltd",
                                beneficiary_address="1 Example Street, 10115 Berlin, Germany", bank_name="Commerzbank")
ACCOUNT_FUNDING = Decimal("2500")  # USD moved from the wallet to each live account
TRADER_PROFILES = {"standard": "ordinary", "raw": "scalper"}


def credentials_path(data_dir: Path) -> Path:
    return data_dir / "demo-credentials.json"


def _credentials(data_dir: Path) -> dict[str, str]:
    """email -> password, generated once per data folder (mode 0600); a user added later gets one too."""
    path = credentials_path(data_dir)
    creds: dict[str, str] = orjson.loads(path.read_bytes()) if path.exists() else {}
    wanted = [email for email, _ in DEMO_USERS] + list(DEMO_IBS)
    missing = [email for email in wanted if email not in creds]
    if missing:
        creds |= {email: f"demo {secrets.token_urlsafe(9)} pass" for email in missing}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(orjson.dumps(creds, option=orjson.OPT_INDENT_2))
    return creds


async def ensure_demo_data(settings: Settings, database_url: str, simulators: list[SimulatorProcess],
                           stand_ins: dict[str, str] | None = None) -> dict[str, str]:
    """Seed (or find) the demo brokerage; returns email -> password."""
    creds = _credentials(settings.data_dir)
    engine = create_engine(database_url, settings, pool_size=2)
    factory = create_session_factory(engine)
    try:
        if simulators:
            await register_dev_servers(factory, simulators, settings)
        ids = await _users(factory, settings, creds)
        demo = _Demo(factory, settings, ids, stand_ins or {}, simulators)
        for step in (demo.payment_methods, demo.fx_rates, demo.account_types, demo.risk, demo.ib_tree,
                     demo.client, demo.funds):
            try:
                await step()
            except Exception:  # a development convenience: say what failed, keep the system running
                log.exception("demo data: %s failed", step.__name__)
    finally:
        await engine.dispose()
    return creds


async def _users(factory: SessionFactory, settings: Settings, creds: dict[str, str]) -> dict[str, int]:
    """The two administrators (staff users with the administrator role) and the IBs; the demo client registers
    later (through the sub-IB's referral code)."""
    actor = system_actor("demo-data")
    ids: dict[str, int] = {}

    async def txn(session: AsyncSession) -> None:
        names = {email: name for email, _role, name in DEMO_STAFF} | {IB_EMAIL: "Demo IB", SUB_IB_EMAIL: "Demo Sub-IB"}
        for email, role in (*((e, r) for e, r, _n in DEMO_STAFF), *((e, None) for e in DEMO_IBS)):
            uid = await session.scalar(select(User.id).where(User.email_normalized == email))
            if uid is None:
                name = names[email]
                user = await create_user(session, settings, actor, email=email, password=creds[email],
                                         display_name=name, is_staff=role is not None, is_client=role is None)
                if role:
                    await roles.assign(session, actor, user.id, role)
                uid = user.id
            ids[email] = int(uid)

    await in_transaction(factory, txn)
    return ids


class _Demo:
    def __init__(self, factory: SessionFactory, settings: Settings, ids: dict[str, int], urls: dict[str, str],
                 simulators: list[SimulatorProcess]) -> None:
        self.factory, self.settings, self.ids, self.urls, self.simulators = factory, settings, ids, urls, simulators
        self.system = system_actor("demo-data")
        self.admin = Actor(ActorKind.STAFF, user_id=ids[ADMIN_EMAIL], correlation_id="demo-data")

    async def txn(self, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        return await in_transaction(self.factory, work)

    async def server_id(self) -> int | None:
        from domain.trading.models import TradingServer

        if not self.simulators:
            return None
        async with self.factory() as session:
            found = await session.scalar(select(TradingServer.id).where(TradingServer.name == self.simulators[0].name))
        return None if found is None else int(found)

    # -- payments -----------------------------------------------------------------------------------

    async def payment_methods(self) -> None:
        from domain.payments import bank_details, method_admin
        from domain.payments.method_admin import MethodSpec

        stripe, praxis, coinspaid = (self.urls.get(k, "") for k in ("stripe", "praxis", "coinspaid"))
        specs = [MethodSpec("wire", "wire", "bank", "USD", "*", Decimal(1_000_000), Decimal(100),
                            display_name="Bank wire (USD)")]
        if stripe:
            specs += [MethodSpec("card", "card", "stripe", cur, "*", Decimal(10_000), Decimal(10), base_url=stripe,
                                 display_name=f"Card ({cur})", fee_percent=Decimal("1.5")) for cur in ("USD", "EUR")]
        if praxis:
            specs.append(MethodSpec("local-eu", "local", "praxis", "EUR", "DE", Decimal(20_000), Decimal(20),
                                    base_url=praxis, display_name="Local bank payment (Praxis)", withdrawals=False))
        if coinspaid:
            specs += [MethodSpec(f"crypto-{asset.lower()}", "crypto", "coinspaid", asset, "*", limit,
                                 base_url=f"{coinspaid}/api", display_name=f"{asset} (CoinsPaid)")
                      for asset, limit in (("BTC", Decimal(5)), ("USDT", Decimal(100_000)))]

        async def txn(session: AsyncSession) -> None:
            for spec in specs:
                existing = await method_admin.list_rules(session, code=spec.code, currency=spec.currency)
                same = [r for r in existing if r.country == spec.country]
                rule = same[0] if same else await method_admin.create(session, self.admin, spec)
                # Where clients pay wire deposits in (a textbook IBAN, not a real account); kept once set.
                if rule.kind == "wire" and await bank_details.for_method(session, rule.id) is None:
                    await bank_details.set_for_method(session, self.admin, rule.id, DEMO_BANK_ACCOUNT)

        await self.txn(txn)

    async def fx_rates(self) -> None:
        """Today's rates from the ECB stand-in (the API's refresh job keeps them fresh)."""
        from domain.fx.port import FxSettings
        from domain.fx.rates import refresh

        if "fx" in self.urls:
            url = f"{self.urls['fx']}/stats/eurofxref/eurofxref-daily.xml"
            await refresh(self.factory, self.system, settings=FxSettings(source="ecb", ecb_url=url))

    # -- trading ------------------------------------------------------------------------------------

    async def account_types(self) -> None:
        from domain.clients.account_types import AccountTypeSpec, create_account_type
        from domain.clients.models import AccountType

        server = await self.server_id()
        if server is None:
            return

        async def txn(session: AsyncSession) -> None:
            for code, name, pricing, group in ACCOUNT_TYPES:
                if await session.get(AccountType, code) is None:
                    await create_account_type(session, self.admin, AccountTypeSpec(
                        code, name, ["USD"], pricing=pricing, server_id=server, group_name=group,
                        default_leverage=100, max_leverage=500))

        await self.txn(txn)

    async def risk(self) -> None:
        from domain.risk import calendar, limits, segmentation

        server = await self.server_id()

        async def txn(session: AsyncSession) -> None:
            if server is not None:
                mapped = {g.group for g in await segmentation.list_group_books(session, server)}
                for group, book, pct in GROUP_BOOKS:
                    if group not in mapped:
                        await segmentation.set_group_book(session, self.admin, server, group, book, pct)
            present = {(lim.scope, lim.key) for lim in await limits.list_limits(session)}
            for scope, key, lots, notional in (("symbol", "EURUSD", Decimal(50), None),
                                               ("symbol", "XAUUSD", Decimal(10), None),
                                               ("book", "B", None, Decimal(5_000_000))):
                if (scope, key) not in present:
                    await limits.set_limit(session, self.admin, scope, key, lots, notional)
            await calendar.import_calendar(session, self.admin, (DATA / "calendar_sample.csv").read_text(),
                                           calendar.CalendarFormat.CSV)

        await self.txn(txn)

    # -- IB tree ------------------------------------------------------------------------------------

    async def ib_tree(self) -> None:
        from sqlalchemy import text

        from domain.ib import links, network, plans
        from domain.ib.plans import ClauseKind, ClauseSpec, Distribution

        master, sub = self.ids[IB_EMAIL], self.ids[SUB_IB_EMAIL]

        async def txn(session: AsyncSession) -> None:
            async def status(uid: int) -> str | None:
                found = await session.scalar(text("SELECT status FROM ib_partners WHERE user_id = :u"), {"u": uid})
                return None if found is None else str(found)

            for uid, parent in ((master, None), (sub, master)):
                if await status(uid) is None:
                    await network.apply(session, Actor(ActorKind.CLIENT, user_id=uid), uid, parent_id=parent,
                                        note="demo")
                if await status(uid) == "pending":
                    await network.approve(session, self.admin, uid, parent_id=parent)
            plan = await session.scalar(text("SELECT id FROM ib_plans WHERE name = :n"), {"n": PLAN_NAME})
            if plan is None:
                now = datetime.now(UTC)
                plan = await plans.create_plan(session, self.admin, name=PLAN_NAME, currency="USD")
                # Hybrid: per lot (the sub-IB 6, the master 4 of 10 USD) and a revenue share (20 % / 5 %).
                await plans.add_version(session, self.admin, plan, distribution=Distribution.PERCENT, clauses=[
                    ClauseSpec(ClauseKind.PER_LOT, (Decimal("0.6"), Decimal("0.4")), base_rate=Decimal(10),
                               max_total=Decimal(10)),
                    ClauseSpec(ClauseKind.REVENUE_SHARE, (Decimal("0.20"), Decimal("0.05")),
                               params={"cost_per_lot": "2"}),
                ], valid_from=now)
                for uid in (master, sub):
                    await plans.assign(session, self.admin, uid, int(plan), effective_from=now)
            for uid, names in ((master, ("Website", "Partners")), (sub, ("Telegram", "YouTube"))):
                if not (await links.stats(session, uid, PageRequest(size=1), include_disabled=True)).items:
                    for name in names:
                        await links.create(session, Actor(ActorKind.IB, user_id=uid), uid, links.LinkSpec(
                            name, utm={"utm_source": name.lower(), "utm_medium": "referral"}))

        await self.txn(txn)

    async def sub_ib_code(self, session: AsyncSession) -> str:
        from domain.ib import links

        found = (await links.stats(session, self.ids[SUB_IB_EMAIL], PageRequest(size=1))).items
        return found[0].link.code if found else ""

    # -- the client -----------------------------------------------------------------------------------

    async def client(self) -> None:
        """Registered through the sub-IB's link, then each onboarding step the status still lacks."""
        from domain.clients import profile, questionnaire, review
        from domain.clients.kyc import _store_applicant, apply_verdict, external_id
        from domain.clients.kyc_port import GREEN, Applicant, ApplicantData, ProviderVerdict
        from domain.clients.leads import Attribution
        from domain.clients.models import Client, KycApplicant
        from domain.clients.registration import register_client
        from domain.clients.status import Status, transition

        creds = _credentials(self.settings.data_dir)

        async def register(session: AsyncSession) -> None:
            from domain.clients.config import set_group_mapping, set_jurisdiction
            from domain.clients.models import Jurisdiction

            if await session.get(Jurisdiction, "DE") is None:  # where the demo client lives: served
                await set_jurisdiction(session, self.admin, country="DE", served=True, regulated=True,
                                       regulator="BaFin")
                server = await self.server_id()
                for code, _, _, group in ACCOUNT_TYPES:
                    for risk in ("low", "medium", "high"):
                        if server is None:
                            break
                        await set_group_mapping(session, self.admin, jurisdiction="DE", account_type=code,
                                                currency="USD", book="B", risk_category=risk, server_id=server,
                                                group_name=group)
            if await session.scalar(select(User.id).where(User.email_normalized == CLIENT_EMAIL)) is None:
                code = await self.sub_ib_code(session)
                await register_client(session, self.settings, self.system, email=CLIENT_EMAIL,
                                      password=creds[CLIENT_EMAIL], display_name="Demo Client",
                                      attribution=Attribution(utm_source="telegram", ib_code=code))

        await self.txn(register)

        async def onboard(session: AsyncSession) -> None:
            uid = await session.scalar(select(User.id).where(User.email_normalized == CLIENT_EMAIL))
            client = await session.scalar(select(Client).where(Client.user_id == uid).with_for_update())
            if client is None:  # a data folder from before the demo client was a registered client
                return
            me = Actor(ActorKind.CLIENT, user_id=client.user_id, correlation_id="demo-data")
            self.ids[CLIENT_EMAIL], self.client_id = client.user_id, client.id
            if client.status == Status.REGISTERED.value:  # the e-mailed link, followed
                user = await session.get(User, client.user_id, with_for_update=True)
                assert user is not None
                user.email_verified_at = datetime.now(UTC)
                await transition(session, me, client, Status.EMAIL_VERIFIED, reason="email verified (demo data)")
            if client.status == Status.EMAIL_VERIFIED.value:
                await profile.update_profile(session, self.settings, me, client, profile.ProfileInput(
                    first_name="Anna", last_name="Demo", date_of_birth=date(1985, 4, 12), country="DE",
                    phone="+49 30 901820", address_line="Unter den Linden 1", city="Berlin", postal_code="10117",
                    tax_residencies=[profile.TaxResidency("DE", "12345678901")], employment_status="employed",
                    source_of_funds="salary", occupation="Engineer"), date.today())
            if await questionnaire.latest(session, client.id) is None:
                await questionnaire.submit(session, me, client, {"experience": "often", "stop_out": "closed",
                                                                 "leverage": "thirty", "loss_capacity": "yes"})
            if client.status == Status.PROFILE_COMPLETE.value:
                # Sumsub's "applicantReviewed: GREEN", through the same functions its webhook calls
                # (the API is not up yet to receive the stand-in's signed delivery).
                data = ApplicantData(external_id(client.id), CLIENT_EMAIL, "Anna", "Demo", "DE")
                await _store_applicant(session, self.system, "sumsub", data,
                                       Applicant(f"demo-{client.id}", data.external_id))
                applicant = await session.get(KycApplicant, client.id, with_for_update=True)
                assert applicant is not None
                await apply_verdict(session, self.system, applicant, ProviderVerdict(
                    applicant.applicant_id, GREEN, at=datetime.now(UTC)), event_id=f"demo-{client.id}")
            if client.status in (Status.DOCUMENTS_SUBMITTED.value, Status.MORE_INFO_REQUIRED.value):
                await review.submit(session, me, client)
            if client.status == Status.UNDER_REVIEW.value:
                await review.decide(session, self.admin, client, review.Verdict.APPROVE, "demo client")

        await self.txn(onboard)

    async def funds(self) -> None:
        """Wallets credited by a staff adjustment, one live account per account type, each funded
        from the USD wallet and traded by one of the simulator's traders."""
        from domain.clients.accounts import open_live_account
        from domain.ledger.accounts import wallet_for
        from domain.ledger.transfers import transfer_to_trading_account
        from domain.ledger.wallets import adjust_balance
        from domain.trading.models import TradingServer
        from domain.trading.servers import platform_for

        client_id = getattr(self, "client_id", None)
        uid = self.ids.get(CLIENT_EMAIL)
        if client_id is None or uid is None:
            return

        async def wallets(session: AsyncSession) -> dict[str, int]:
            out = {}
            for cur, amount in WALLETS:
                wallet = await wallet_for(session, uid, cur)
                await adjust_balance(session, self.admin, wallet_id=wallet.id, amount=amount,
                                     reason="demo data: opening balance", idempotency_key=f"demo-opening-{cur}")
                out[cur] = wallet.id
            return out

        wallet_ids = await self.txn(wallets)
        server_id = await self.server_id()
        if server_id is None:
            return
        async with self.factory() as session:
            server = await session.get(TradingServer, server_id)
        assert server is not None
        secret = self.settings.secret_key.get_secret_value()
        platform = platform_for(server, secret)
        try:
            for code, *_ in ACCOUNT_TYPES:
                me = Actor(ActorKind.CLIENT, user_id=uid, correlation_id="demo-data")
                # The standard one under the key of the account opened on approval (the worker's
                # open_initial_account then finds it).
                request = await open_live_account(self.factory, self.settings, me, client_id,
                                                  idempotency_key="initial" if code == "standard" else f"demo-{code}",
                                                  account_type=code, currency="USD",
                                                  platforms=lambda s: platform_for(s, secret))
                if request.status != "created" or request.trading_account_id is None:
                    continue
                login = await self.login_of(request.trading_account_id)
                await transfer_to_trading_account(
                    self.factory, me, user_id=uid,
                    wallet_id=wallet_ids["USD"], server_id=str(server_id), login=login, amount=ACCOUNT_FUNDING,
                    idempotency_key=f"demo-fund-{code}", platforms=lambda _sid: platform)
                async with httpx.AsyncClient(timeout=5) as http:  # the simulator's traders trade it
                    (await http.post(f"{server.base_url}/sim/traders",
                                     json={"login": login, "profile": TRADER_PROFILES[code]})).raise_for_status()
        finally:
            await platform.aclose()

    async def login_of(self, account_id: int) -> int:
        from domain.trading.models import TradingAccount

        async with self.factory() as session:
            login = await session.scalar(select(TradingAccount.login).where(TradingAccount.id == account_id))
        assert login is not None
        return int(login)
