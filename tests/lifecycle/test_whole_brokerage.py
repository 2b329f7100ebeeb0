"""The whole brokerage lifecycle through GraphQL over HTTP and the stand-ins' public endpoints only.

No SQL, no domain calls: the API and the worker run as the operator starts them (environment only),
the first administrators come from `forexcrm create-staff`, and everything after that is a GraphQL call
by staff, an IB or a client, or a visit to a provider's public page (Stripe's hosted checkout, the
simulator's dealing endpoints). One world per module; the steps run in order and share `state`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest

from schema.node import global_id
from tests import conftest as base
from tests.conftest import ROOT, fresh_database
from tests.ids import db_id
from tests.lifecycle.world import (
    TOKEN_RE,
    Api,
    Processes,
    base_env,
    free_port,
    mail_to,
    new_secret,
    until,
    wait_port,
)
from tests.smtp import Inbox, smtp_server

PASSWORD = "a long and unusual passphrase 42"
MANAGER_LOGIN = 1000
STEP_UP_TTL_S = 12  # an operator's choice: sensitive operations need a code from the last 12 s
PORTAL = "https://portal.broker.example"  # where e-mailed links and the referral landing point
COUNTRY = "CY"  # served, regulated, high risk: the client's approval needs two different approvers

LOGIN = """mutation($i: LoginInput!) { login(input: $i) { accessToken viewer { id isStaff twoFactorEnabled }
  errors { field code message } } }"""
ACCOUNTS = "{ myTradingAccounts { nodes { id login tradingServerId group currency accountType accountTypeCode } } }"
PROFILE = {"firstName": "Anna", "lastName": "Lifecycle", "dateOfBirth": "1985-04-12", "country": COUNTRY,
           "phone": "+357 22 123456", "addressLine": "Makariou 1", "city": "Nicosia", "postalCode": "1065",
           "taxResidencies": [{"country": COUNTRY, "tin": "12345678X"}], "employmentStatus": "employed",
           "sourceOfFunds": "salary", "occupation": "Engineer"}
ANSWERS = [{"question": "experience", "option": "often"}, {"question": "stop_out", "option": "closed"},
           {"question": "leverage", "option": "thirty"}, {"question": "loss_capacity", "option": "yes"}]
IB_REGISTER = """mutation($i: RegisterInput!) { register(input: $i) { accessToken viewer { id }
  errors { field code message } } }"""


@dataclass
class Person:
    email: str
    token: str = ""
    user_id: str = ""
    totp: str = ""
    last_step: int = 0

    async def code(self) -> str:
        """A TOTP code as an authenticator app shows it, never one of a step already used (replays are
        refused): the next step's code is still inside the server's window, beyond that wait for it."""
        step = int(time.time() // 30)
        if step <= self.last_step:
            step = self.last_step + 1
        while step > int(time.time() // 30) + 1:
            await asyncio.sleep(0.5)
        self.last_step = step
        return str(pyotp.TOTP(self.totp).at(step * 30))


@dataclass
class World:
    api: Api
    processes: Processes
    inbox: Inbox
    stripe_url: str
    sim_url: str
    sim_password: str
    api_url: str
    env: dict[str, str]
    http: httpx.AsyncClient
    run: str
    state: dict[str, Any] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)

    def email(self, name: str, domain: str = "example.com") -> str:
        """Per run: sign-in rate-limit counters live in Redis, which runs share."""
        return f"{name}.{self.run}@{domain}"

    def as_(self, who: str) -> Api:
        return self.api.as_(self.people[who].token)

    async def until(self, what: str, probe: Any, within_s: float = 30.0, every_s: float = 0.25) -> Any:
        return await until(what, probe, self.processes, within_s=within_s, every_s=every_s)


@pytest.fixture(scope="module")
def database(base_urls: tuple[str, str], testrun_uid: str) -> Iterator[base.TestServices]:
    """A fresh database of this module's own: reconciliation must see this brokerage only."""
    yield from fresh_database(base_urls, testrun_uid, suite="lifecycle")


def _create_staff(env: dict[str, str], email: str, name: str) -> None:
    done = subprocess.run([sys.executable, "-m", "api", "create-staff", "--email", email, "--password", PASSWORD,
                           "--display-name", name], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]


@pytest.fixture(scope="module")
async def world(database: base.TestServices, tmp_path_factory: pytest.TempPathFactory, testrun_uid: str,
                ) -> AsyncIterator[World]:
    folder = tmp_path_factory.mktemp("brokerage")
    processes = Processes(folder)
    api_port, stripe_port, sim_port, sumsub_port = free_port(), free_port(), free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    stripe_key, stripe_hook = new_secret("sk_test_"), new_secret("whsec_")
    sim_password = new_secret() + "Aa1!"
    sumsub = {"token": "sbx:" + new_secret(), "key": new_secret(), "hook": new_secret()}
    run = f"{testrun_uid[:10]}-lifecycle"
    with smtp_server() as (inbox, smtp_port):
        # What an operator puts in the environment of the API and the worker.
        env = base_env(
            DATABASE_URL=database.database_url, REDIS_URL=database.redis_url,
            FOREXCRM_MIGRATION_DATABASE_URL=database.owner_url,
            FOREXCRM_SECRET_KEY=new_secret(), FOREXCRM_DATA_DIR=str(folder / "data"),
            FOREXCRM_PORT=str(api_port), FOREXCRM_PUBLIC_BASE_URL=api_url, FOREXCRM_PORTAL_URL=PORTAL,
            FOREXCRM_IB_REFERRAL_REGISTRATION_URL=f"{PORTAL}/register",
            FOREXCRM_REDIS_NAMESPACE=f"forexcrm-test-{run}",  # sign-in counters of this world only
            FOREXCRM_QUEUE_NAME=f"forexcrm-test-{run}:queue", FOREXCRM_CHANNEL_PREFIX=f"forexcrm-test-{run}:events:",
            FOREXCRM_LOG_JSON="false", FOREXCRM_LOG_LEVEL="WARNING",
            FOREXCRM_ARGON2_TIME_COST="1", FOREXCRM_ARGON2_MEMORY_KIB="8192",
            FOREXCRM_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", FOREXCRM_MAIL_FROM="crm@broker.example",
            FOREXCRM_PSP_STRIPE_API_KEY=stripe_key, FOREXCRM_PSP_STRIPE_WEBHOOK_SECRETS=stripe_hook,
            FOREXCRM_KYC_PROVIDER="sumsub", FOREXCRM_KYC_BASE_URL=f"http://127.0.0.1:{sumsub_port}",
            FOREXCRM_KYC_APP_TOKEN=sumsub["token"], FOREXCRM_KYC_SECRET_KEY=sumsub["key"],
            FOREXCRM_KYC_WEBHOOK_SECRETS=sumsub["hook"],
            FOREXCRM_STEP_UP_TTL_S=str(STEP_UP_TTL_S),
            FOREXCRM_DB_POOL_SIZE="4", FOREXCRM_DB_MAX_OVERFLOW="4",
        )
        try:
            stripe = processes.start("stripe", ["-m", "sandbox.stripe", "--host", "127.0.0.1", "--port",
                                                str(stripe_port)],
                                     base_env(STRIPE_API_KEY=stripe_key, STRIPE_WEBHOOK_SECRET=stripe_hook,
                                              STRIPE_WEBHOOK_URL=f"{api_url}/webhooks/stripe"))
            sim = processes.start("simulator", [
                "-m", "sandbox.simulator", "--host", "127.0.0.1", "--port", str(sim_port),
                "--data-dir", str(folder / "simulator"), "--rate", "2", "--populate-groups", "0",
                "--manager-login", str(MANAGER_LOGIN)], base_env(SIM_MANAGER_PASSWORD=sim_password))
            kyc = processes.start("sumsub", ["-m", "sandbox.kyc", "--host", "127.0.0.1", "--port", str(sumsub_port)],
                                  base_env(SUMSUB_APP_TOKEN=sumsub["token"], SUMSUB_SECRET_KEY=sumsub["key"],
                                           SUMSUB_WEBHOOK_SECRET=sumsub["hook"],
                                           SUMSUB_WEBHOOK_URL=f"{api_url}/webhooks/sumsub"))
            api = processes.start("api", ["-m", "api", "api", "--port", str(api_port)], env)
            worker = processes.start("worker", ["-m", "api", "worker"], {**env, "FOREXCRM_LOG_LEVEL": "INFO"})
            for proc, port in ((stripe, stripe_port), (sim, sim_port), (kyc, sumsub_port), (api, api_port)):
                await wait_port(proc, port, processes, within_s=90)
            assert worker.proc.poll() is None, processes.logs()
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
                world = World(Api(http, processes), processes, inbox, f"http://127.0.0.1:{stripe_port}",
                              f"http://127.0.0.1:{sim_port}", sim_password, api_url, env, http,
                              testrun_uid[:8].lower())
                world.state["sumsub_url"] = f"http://127.0.0.1:{sumsub_port}"
                yield world
        finally:
            processes.stop_all()


@pytest.fixture(autouse=True)
def _in_order(request: pytest.FixtureRequest, world: World) -> Iterator[None]:
    """The steps build on each other: after a failed one the rest are skipped; a failure prints the logs."""
    if world.state.get("failed"):
        pytest.skip(f"an earlier step failed: {world.state['failed']}")
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        world.state["failed"] = request.node.name
        print(world.processes.logs())  # shown with the failed step's report


# -- steps ------------------------------------------------------------------------------------------


async def _sign_in(w: World, who: str, *, enrol: bool) -> None:
    """Password sign-in; staff (and the client, for step-up) enrol TOTP with pyotp as an authenticator app."""
    person = w.people[who]
    anon = w.api.as_(None)
    first = (await anon(LOGIN, {"i": {"email": person.email, "password": PASSWORD, "device": "lifecycle"}}))["login"]
    person.token, person.user_id = first["accessToken"], first["viewer"]["id"]
    if not enrol:
        return
    me = w.api.as_(person.token)
    started = (await me("mutation { startTotpEnrollment { secret provisioningUri errors { code } } }"))
    person.totp = started["startTotpEnrollment"]["secret"]
    assert started["startTotpEnrollment"]["provisioningUri"].startswith("otpauth://totp/")
    person.last_step = int(time.time() // 30) - 2
    confirmed = await me("mutation($c: String!) { confirmTotpEnrollment(code: $c) { recoveryCodes errors { code } } }",
                         {"c": await person.code()})
    assert len(confirmed["confirmTotpEnrollment"]["recoveryCodes"]) == 10
    again = (await anon(LOGIN, {"i": {"email": person.email, "password": PASSWORD, "totpCode": await person.code(),
                                      "device": "lifecycle"}}))["login"]
    assert again["viewer"]["twoFactorEnabled"] is True
    person.token = again["accessToken"]


async def _step_up(world: World, who: str) -> None:
    await world.as_(who)("mutation($c: String!) { stepUp(code: $c) { ok errors { code } } }",
                         {"c": await world.people[who].code()})


async def test_01_staff_bootstrap_with_the_cli_then_2fa(world: World) -> None:
    # `forexcrm create-staff` makes the first two administrators (independent of each other: four eyes).
    for who, name in (("admin", "First Admin"), ("admin2", "Second Admin")):
        email = world.email(who, "broker.example")
        await asyncio.to_thread(_create_staff, world.env, email, name)
        world.people[who] = Person(email)
        await _sign_in(world, who, enrol=True)
    me = await world.as_("admin")("{ me { isStaff permissions twoFactorEnabled } }")
    assert me["me"]["isStaff"] and me["me"]["twoFactorEnabled"]
    assert {"kyc.approve", "staff.manage"} <= set(me["me"]["permissions"]), me
    # Everyone after them through the API: a finance officer, created by one administrator (stepped up)
    # and approved by the other (four eyes on staff changes), who then enrols 2FA at first sign-in.
    admin, admin2 = world.as_("admin"), world.as_("admin2")
    await _step_up(world, "admin")
    made = await admin("""mutation($i: CreateStaffUserInput!) { createStaffUser(input: $i) { staffUser { id status }
        request { id status } errors { code field } } }""",
                       {"i": {"email": world.email("fiona", "broker.example"), "password": PASSWORD, "displayName": "Fiona Finance",
                              "roles": ["finance"]}})
    assert made["createStaffUser"]["request"]["status"] == "pending"
    await _step_up(world, "admin2")
    approved = await admin2("""mutation($i: ID!) { approveStaffChange(id: $i) { request { status } errors { code } } }""",
                            {"i": made["createStaffUser"]["request"]["id"]})
    assert approved["approveStaffChange"]["request"]["status"] == "approved"
    world.people["finance"] = Person(world.email("fiona", "broker.example"))
    await _sign_in(world, "finance", enrol=True)
    roles = await world.as_("finance")("{ me { permissions } }")
    assert "payments.approve_withdrawal" in roles["me"]["permissions"]


async def test_02_brokerage_configured_through_the_api(world: World) -> None:
    admin = world.as_("admin")
    server = await admin("""mutation($i: TradingServerInput!) { upsertTradingServer(input: $i) {
        tradingServer { id name platform enabled } errors { field code message } } }""",
                         {"i": {"name": "live-1", "baseUrl": world.sim_url, "managerLogin": MANAGER_LOGIN,
                                "password": world.sim_password}})
    server_id = server["upsertTradingServer"]["tradingServer"]["id"]
    world.state["server_id"] = server_id
    await admin("""mutation($c: String!) { setJurisdiction(country: $c, served: true, regulated: true,
        regulator: "CySEC", highRisk: true, esmaRetailCaps: true) { ok errors { code field message } } }""",
                {"c": COUNTRY})
    # The account type clients choose (D: createAccountType), placed per jurisdiction and risk category.
    await admin("""mutation($i: AccountTypeInput!) { createAccountType(input: $i) {
        accountType { code currencies } errors { code field message } } }""",
                {"i": {"code": "standard", "name": "Standard", "currencies": ["USD", "EUR"], "pricing": "spread",
                       "serverId": server_id, "groupName": "real\\standard", "defaultLeverage": 30,
                       "maxLeverage": 30}})
    for risk in ("low", "medium", "high"):
        await admin("""mutation($j: String!, $r: String!, $s: ID!) { setGroupMapping(jurisdiction: $j,
            accountType: "standard", currency: "USD", book: "B", riskCategory: $r, serverId: $s,
            groupName: "real\\\\standard") { ok errors { code field message } } }""",
                    {"j": COUNTRY, "r": risk, "s": server_id})
    method = await world.as_("finance")("""mutation($i: CreatePaymentMethodInput!) { createPaymentMethod(input: $i) {
        errors { code field message } } }""",
                         {"i": {"code": "card", "kind": "CARD", "provider": "stripe", "currency": "USD",
                                "minAmount": "10", "maxAmount": "10000", "baseUrl": world.stripe_url,
                                "displayName": "Card"}})
    assert method["createPaymentMethod"]["errors"] == []


async def test_03_an_ib_applies_is_approved_on_a_plan_and_shares_a_referral_link(world: World) -> None:
    admin = world.as_("admin")
    plan = (await admin("""mutation { createIbPlan(input: {name: "Partners 2026", currency: "USD"}) {
        ok id errors { code field message } } }"""))["createIbPlan"]["id"]
    valid_from = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    await admin("""mutation($i: AddIbPlanVersionInput!) { addIbPlanVersion(input: $i) { ok id errors { code field } } }""",
                {"i": {"planId": plan, "distribution": "OVERRIDE", "validFrom": valid_from,
                       "clauses": [{"kind": "PER_LOT", "levelRates": ["7"], "maxTotal": "7"}]}})
    world.people["ib"] = Person(world.email("ivan.partner"))
    made = (await world.api.as_(None)(IB_REGISTER, {"i": {"email": world.people["ib"].email, "password": PASSWORD,
                                                          "displayName": "Ivan Partner"}}))["register"]
    world.people["ib"].token, world.people["ib"].user_id = made["accessToken"], made["viewer"]["id"]
    ib = world.as_("ib")
    applied = (await ib("""mutation($i: ApplyForIbInput!) { applyForIb(input: $i) { application { id status }
        errors { code field } } }""", {"i": {"channels": ["WEBSITE"], "expectedClients": 25,
                                             "website": "https://fx-school.example", "message": "FX school"}}))
    application = applied["applyForIb"]["application"]["id"]
    pending = await admin("""{ ibApplications(status: PENDING) { nodes { id applicantEmail } } }""")
    assert {"id": application, "applicantEmail": world.people["ib"].email} in pending["ibApplications"]["nodes"]
    approved = await admin("""mutation($i: ApproveIbApplicationInput!) { approveIbApplication(input: $i) {
        application { status planId } errors { code field } } }""",
                           {"i": {"applicationId": application, "planId": plan, "reason": "school with 2k students"}})
    assert approved["approveIbApplication"]["application"] == {"status": "APPROVED", "planId": plan}
    ib_id = world.people["ib"].user_id
    await admin("""mutation($i: UpdateIbSettingsInput!) { updateIbSettings(input: $i) { ok errors { code field } } }""",
                {"i": {"ibId": ib_id, "payoutCycle": "daily", "payoutMin": "0"}})
    link = (await ib("""mutation($i: CreateMyIbReferralLinkInput!) { createMyIbReferralLink(input: $i) {
        link { id code path } errors { code field } } }""",
                     {"i": {"name": "Webinar", "utmSource": "webinar", "utmCampaign": "winter"}}))
    path = link["createMyIbReferralLink"]["link"]["path"]
    # A visitor follows the link: the click is counted and the landing carries the IB's code.
    landed = await world.http.get(path, follow_redirects=False)
    assert landed.status_code == 302 and landed.headers["location"].startswith(f"{PORTAL}/register"), landed
    query = parse_qs(urlsplit(landed.headers["location"]).query)
    assert query["ib_code"], landed.headers["location"]
    world.state["attribution"] = {"ibCode": query["ib_code"][0], "utmSource": query.get("utm_source", [""])[0],
                                  "utmCampaign": query.get("utm_campaign", [""])[0], "landingPage": path}
    links = await ib("{ myIbManagedLinks { nodes { code clicks } } }")
    assert links["myIbManagedLinks"]["nodes"][0]["clicks"] == 1


async def test_04_lead_registration_and_email_link(world: World) -> None:
    email = world.email("anna.client")
    world.people["client"] = Person(email)
    anon = world.api.as_(None)
    await anon("""mutation($i: LeadInput!) { captureLead(input: $i) { ok errors { code field } } }""",
               {"i": {"email": email, "firstName": "Anna", "lastName": "Client", "country": COUNTRY,
                      "attribution": {"utmSource": "newsletter", **world.state.get("attribution", {})}}})
    registered = await anon("""mutation($i: RegisterClientInput!) { registerClient(input: $i) {
        client { id status } accessToken errors { field code message } } }""",
                            {"i": {"email": email, "password": PASSWORD, "displayName": "Anna",
                                   "attribution": world.state.get("attribution", {})}})
    payload = registered["registerClient"]
    world.state["client_id"] = payload["client"]["id"]
    world.people["client"].token = payload["accessToken"]
    world.people["client"].user_id = (await world.as_("client")("{ me { id } }"))["me"]["id"]
    # The real worker sends the verification e-mail to the SMTP server; the link in it verifies.
    body = await mail_to(world.inbox, email, world.processes, within_s=90)
    match = TOKEN_RE.search(body)
    assert match and f"{PORTAL}/verify-email?token=" in body, body
    client = world.as_("client")
    verified = await client("""mutation($t: String!) { verifyClientEmail(token: $t) { client { status }
        errors { code } } }""", {"t": match.group(1)})
    assert verified["verifyClientEmail"]["client"]["status"] == "EMAIL_VERIFIED"
    links = await world.as_("ib")("{ myIbManagedLinks { nodes { clicks registrations } } }")
    assert links["myIbManagedLinks"]["nodes"] == [{"clicks": 1, "registrations": 1}]  # attributed to the IB's link
    # The client sets up an authenticator app (pyotp plays it): withdrawals will ask for a fresh code.
    person = world.people["client"]
    started = await client("mutation { startTotpEnrollment { secret errors { code } } }")
    person.totp = started["startTotpEnrollment"]["secret"]
    person.last_step = int(time.time() // 30) - 2
    await client("mutation($c: String!) { confirmTotpEnrollment(code: $c) { recoveryCodes errors { code } } }",
                 {"c": await person.code()})
    world.state["client_enrolled_at"] = time.monotonic()


async def _status(world: World) -> str:
    return str((await world.as_("client")("{ myClient { status } }"))["myClient"]["status"])


async def test_05_profile_and_kyc_through_the_providers_websdk(world: World) -> None:
    client = world.as_("client")
    done = await client("""mutation($i: ProfileInput!) { updateMyProfile(input: $i) { client { status }
        errors { field code message } } }""", {"i": PROFILE})
    assert done["updateMyProfile"]["client"]["status"] == "PROFILE_COMPLETE"
    started = await client("""mutation { startKycVerification { verification { provider applicantId accessToken }
        errors { code field message } } }""")
    verification = started["startKycVerification"]["verification"]
    assert verification["provider"] == "sumsub"
    # The person finishes the provider's WebSDK; Sumsub's signed webhooks reach our API before it answers.
    finished = await world.http.post(f"{world.state['sumsub_url']}/websdk/submit",
                                     json={"accessToken": verification["accessToken"]})
    assert finished.status_code == 200 and finished.json()["webhooks"] == [200, 200], finished.text
    assert await _status(world) == "DOCUMENTS_SUBMITTED"


async def test_06_questionnaire_screening_and_four_eyes_approval(world: World) -> None:
    client = world.as_("client")
    answered = await client("""mutation($a: [AnswerInput!]!) { submitQuestionnaire(answers: $a) {
        result { score riskCategory } errors { code field message } } }""", {"a": ANSWERS})
    assert answered["submitQuestionnaire"]["result"]["riskCategory"]
    # Submitting screens the client against the lists; a high-risk jurisdiction makes the risk level high.
    submitted = await client("mutation { submitApplication { client { status } errors { field code message } } }")
    assert submitted["submitApplication"]["client"]["status"] == "UNDER_REVIEW"
    client_id = world.state["client_id"]
    admin, admin2 = world.as_("admin"), world.as_("admin2")
    # Compliance finds the client by e-mail and sees where they came from (the lead's first touch, the IB).
    found = await admin("""query($q: String!) { searchClients(query: $q) { nodes { client { id status }
        email matchedOn } } }""", {"q": world.people["client"].email})
    assert [(db_id(h["client"]["id"]), h["client"]["status"]) for h in found["searchClients"]["nodes"]] == [
        (db_id(client_id), "UNDER_REVIEW")]
    view = (await admin("""query($c: ID!) { client(id: $c) { userId email attribution kyc { __typename }
        statusHistory { nodes { toStatus } } screening { nodes { status } } } }""", {"c": client_id}))["client"]
    assert (view["userId"], view["email"], view["screening"]["nodes"]) == (
        world.people["client"].user_id, world.people["client"].email, [])
    assert view["attribution"]["ib_code"] == world.state["attribution"]["ibCode"], view
    assert [h["toStatus"] for h in view["statusHistory"]["nodes"]] == [
        "REGISTERED", "EMAIL_VERIFIED", "PROFILE_COMPLETE", "DOCUMENTS_SUBMITTED", "UNDER_REVIEW"]
    hits = await admin("{ screeningHits(status: \"pending\", last: 100) { nodes { clientId status } } }")
    assert [h for h in hits["screeningHits"]["nodes"] if db_id(h["clientId"]) == db_id(client_id)] == []
    queue = await admin("{ reviewQueue(last: 100) { nodes { id status riskLevel } } }")  # oldest first: newest page
    assert {"id": global_id("ClientSummary", db_id(client_id)), "status": "UNDER_REVIEW",
            "riskLevel": "high"} in queue["reviewQueue"]["nodes"]
    decide = """mutation($c: ID!) { decideClient(clientId: $c, decision: APPROVE, reason: "documents and screening clear") {
        client { status riskLevel } errors { code field message } } }"""
    first = await admin(decide, {"c": client_id})
    assert first["decideClient"]["client"]["status"] == "UNDER_REVIEW"  # high risk: a second approver decides
    again = await admin.raw(decide, {"c": client_id})
    assert [e["code"] for e in again["data"]["decideClient"]["errors"]] == ["SECOND_APPROVER_REQUIRED"]
    second = await admin2(decide, {"c": client_id})
    assert second["decideClient"]["client"]["status"] == "APPROVED"
    assert await _status(world) == "APPROVED"


async def test_07_live_account_of_a_chosen_type_and_currency(world: World) -> None:
    client = world.as_("client")
    # Approval opens the initial account (the worker's job); the client opens one more of a chosen type.
    await world.until("the initial live account after approval",
                      lambda: _accounts(client), within_s=60)
    opened = await client("""mutation($i: OpenMyLiveAccountInput!) { openMyLiveAccount(input: $i) {
        account { id login group currency } status errors { code field message } } }""",
                          {"i": {"accountType": "standard", "currency": "USD", "idempotencyKey": "second-usd"}})
    login = int(opened["openMyLiveAccount"]["account"]["login"])
    accounts = await _accounts(client)
    [account] = [a for a in accounts if a["login"] == login]
    # The offered type placed it in the group mapped for the client's jurisdiction and risk category.
    assert (account["currency"], account["group"], account["accountType"], account["accountTypeCode"],
            account["tradingServerId"]) == ("USD", "real\\standard", "real", "standard", world.state["server_id"])
    world.state["account"] = account


async def _accounts(client: Api) -> list[dict[str, Any]]:
    return list((await client(ACCOUNTS))["myTradingAccounts"]["nodes"])


async def _wallet(client: Api, currency: str = "USD") -> dict[str, Any] | None:
    wallets = (await client("{ myWallets { id currency balance held available } }"))["myWallets"]
    return next((w for w in wallets if w["currency"] == currency), None)


async def test_08_card_deposit_paid_on_the_stripe_hosted_page(world: World) -> None:
    client = world.as_("client")
    methods = await client("""query($c: String!) { paymentMethods(country: $c, currency: "USD") { code kind } }""",
                           {"c": COUNTRY})
    assert {"code": "card", "kind": "card"} in methods["paymentMethods"]
    created = await client("""mutation($i: CreateDepositInput!) { createDeposit(input: $i) {
        payment { id reference status amount redirectUrl } errors { code field message } } }""",
                           {"i": {"methodCode": "card", "currency": "USD", "amount": "1000.00", "country": COUNTRY,
                                  "returnUrl": f"{PORTAL}/deposits/done",
                                  "idempotencyKey": "first-deposit"}})
    payment = created["createDeposit"]["payment"]
    assert payment["redirectUrl"].startswith(world.stripe_url), payment
    # The client pays on Stripe's hosted page with a test card; Stripe's signed webhook credits the wallet.
    page = await world.http.get(payment["redirectUrl"])
    assert page.status_code == 200, page.text
    paid = await world.http.post(payment["redirectUrl"], data={"card_number": "4242 4242 4242 4242",
                                                               "name": "Anna Lifecycle", "country": COUNTRY},
                                 follow_redirects=False)
    assert paid.status_code == 303 and paid.headers["location"].startswith(PORTAL)
    wallet = await world.until("the wallet credited by the Stripe webhook",
                               lambda: _credited(client, Decimal("1000")))
    world.state["wallet_id"] = wallet["id"]
    world.state["deposit"] = payment


async def _credited(client: Api, amount: Decimal) -> dict[str, Any] | None:
    wallet = await _wallet(client)
    return wallet if wallet and Decimal(wallet["available"]) == amount else None


async def test_09_transfer_to_the_trading_account_by_its_id(world: World) -> None:
    client = world.as_("client")
    account = world.state["account"]
    moved = await client("""mutation($i: TransferToTradingAccountInput!) { transferToTradingAccount(input: $i) {
        transfer { id status amount tradingAccountLogin } errors { code field message } } }""",
                         {"i": {"walletId": world.state["wallet_id"], "tradingAccountId": account["id"],
                                "amount": "500.00", "idempotencyKey": "fund-trading"}})
    transfer = moved["transferToTradingAccount"]["transfer"]
    assert (transfer["status"], transfer["amount"], transfer["tradingAccountLogin"]) == (
        "DONE", "500.00", account["login"]), transfer
    assert Decimal((await _wallet(client) or {})["available"]) == Decimal("500")

    async def on_platform() -> Any:
        state = (await client("""query($a: ID!) { tradingAccount(id: $a) { state { balance } } }""",
                              {"a": account["id"]}))["tradingAccount"]["state"]
        return state if state and Decimal(state["balance"]) == Decimal("500") else None

    await world.until("the trading account's balance on the trading server", on_platform)


async def test_10_simulator_trades_ingested_by_the_worker(world: World) -> None:
    login = world.state["account"]["login"]
    async with httpx.AsyncClient(base_url=world.sim_url, timeout=20) as sim:
        traded = await sim.post("/sim/trade", json={"login": login, "symbol": "EURUSD", "side": "buy", "lots": "0.1"})
        assert traded.status_code == 200, traded.text
        [position] = traded.json()["positions"]
        await asyncio.sleep(1.0)  # the simulator's clock moves the price a little
        closed = await sim.post("/sim/close", json={"position": position})
        assert closed.status_code == 200, closed.text
    client = world.as_("client")

    async def ingested() -> list[dict[str, Any]] | None:
        deals = (await client("""query($a: ID!) { deals(accountId: $a, first: 50) { nodes { dealId action entry
            symbol volume profit } } }""", {"a": world.state["account"]["id"]}))["deals"]["nodes"]
        trades = [d for d in deals if d["symbol"] == "EURUSD"]
        return deals if len(trades) == 2 else None

    deals = await world.until("both EURUSD deals pulled from the trading server by the worker", ingested, within_s=45)
    world.state["deals"] = deals


async def test_11_ib_commission_for_those_deals_with_its_explain(world: World) -> None:
    ib = world.as_("ib")
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    async def earned() -> list[dict[str, Any]] | None:
        groups = (await ib("""query($s: DateTime) { myIbCommissions(groupBy: CLIENT, since: $s) { key currency
            amount lines lots } }""", {"s": since}))["myIbCommissions"]
        return groups if groups and sum(Decimal(g["amount"]) for g in groups) > 0 else None

    groups = await world.until("the IB's commission on the client's deals", earned, within_s=45)
    assert [g["currency"] for g in groups] == ["USD"]
    # The statement lists each line with its id; the IB asks how one line was computed, and so may staff.
    until_ = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    csv_text = (await ib("""query($s: DateTime!, $u: DateTime!) { myIbStatementCsv(since: $s, until: $u) }""",
                         {"s": since, "u": until_}))["myIbStatementCsv"]
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert rows, csv_text
    line_id = rows[0]["line_id"]
    explained = (await ib("""query($l: ID!) { myIbCommissionLine(lineId: $l) { lineId ibId amount currency formula
        deal clause } }""", {"l": line_id}))["myIbCommissionLine"]
    assert explained["lineId"] == line_id and explained["ibId"] == world.people["ib"].user_id
    assert Decimal(explained["amount"]) > 0 and explained["formula"] and explained["deal"], explained
    staff_view = (await world.as_("finance")("""query($l: ID!) { ibCommissionLine(lineId: $l) { lineId amount
        formula } }""", {"l": line_id}))["ibCommissionLine"]
    assert (staff_view["amount"], staff_view["formula"]) == (explained["amount"], explained["formula"])
    world.state["commission"] = sum(Decimal(g["amount"]) for g in groups)


async def test_12_payout_run_triggered_by_staff(world: World) -> None:
    finance = world.as_("finance")
    ib_id = world.people["ib"].user_id
    today = datetime.now(UTC).date()
    # Today's commission belongs to a period that has not closed: a run for it is refused, nothing written.
    refused = await finance.raw("""mutation($i: RunIbPayoutsInput!) { runIbPayouts(input: $i) { run { ibs }
        errors { code field } } }""", {"i": {"period": today.isoformat(), "idempotencyKey": "today", "ibId": ib_id}})
    assert [e["code"] for e in refused["data"]["runIbPayouts"]["errors"]] == ["IB_PAYOUT_PERIOD_NOT_CLOSED"]
    # On demand: everything accrued before a past instant, whatever the IB's cycle (the cyclic run
    # that follows pays only what came after: dues are cumulative less every payout).
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    async def accrued() -> Decimal:
        groups = (await world.as_("ib")("""query($s: DateTime) { myIbCommissions(groupBy: CLIENT, since: $s) {
            currency amount } }""", {"s": since}))["myIbCommissions"]
        return sum((Decimal(g["amount"]) for g in groups), Decimal(0))

    async def settled() -> Decimal | None:  # the close's line too: the same total twice, a second apart
        first = await accrued()
        await asyncio.sleep(1.1)  # also lets the whole-second instant below pass the last accrual
        return first if first == await accrued() else None

    earned = await world.until("the IB's accruals to settle", settled, within_s=30)
    assert earned >= world.state["commission"] > 0
    instant = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = instant.replace("-", "").replace(":", "")
    preview = await finance("""query($p: String!, $i: ID) { ibPayoutPreview(period: $p, ibId: $i) { ibId currency
        periodKey amount outcome } }""", {"p": instant, "i": ib_id})
    assert [(d["ibId"], d["currency"], d["periodKey"], Decimal(d["amount"]), d["outcome"])
            for d in preview["ibPayoutPreview"]] == [(ib_id, "USD", key, earned, "PAY")], preview
    run = await finance("""mutation($i: RunIbPayoutsInput!) { runIbPayouts(input: $i) { run { periodKey ibs
        created { id amount status } existing { id } replayed } errors { code field } } }""",
                      {"i": {"period": instant, "idempotencyKey": f"payout-{key}", "ibId": ib_id}})
    assert run["runIbPayouts"]["errors"] == [], run
    assert [(Decimal(p["amount"]), p["status"]) for p in run["runIbPayouts"]["run"]["created"]] == [(earned, "paid")]
    wallets = (await world.as_("ib")("{ myWallets { currency balance } }"))["myWallets"]
    assert [Decimal(w["balance"]) for w in wallets if w["currency"] == "USD"] == [earned], wallets
    again = await finance("""mutation($i: RunIbPayoutsInput!) { runIbPayouts(input: $i) { run { created { id } }
        errors { code } } }""", {"i": {"period": instant, "idempotencyKey": f"payout-{key}-again", "ibId": ib_id}})
    assert again["runIbPayouts"]["run"]["created"] == []  # the same instant pays nothing twice
    world.state["payout_preview"] = preview["ibPayoutPreview"]


async def test_13_withdrawal_with_step_up_and_staff_approval_settled_by_the_provider(world: World) -> None:
    client = world.as_("client")
    person = world.people["client"]
    request = """mutation($i: RequestWithdrawalInput!) { requestWithdrawal(input: $i) {
        payment { id reference status approval amount } errors { code field message } } }"""
    variables = {"i": {"methodCode": "card", "currency": "USD", "amount": "200.00", "country": COUNTRY,
                       "idempotencyKey": "first-withdrawal"}}
    # The enrolment's step-up has expired by now (the world's TTL is short): without a fresh code the
    # withdrawal is refused and nothing is held.
    await asyncio.sleep(max(0.0, world.state["client_enrolled_at"] + STEP_UP_TTL_S + 1 - time.monotonic()))
    refused = await client.raw(request, variables)
    assert refused["data"]["requestWithdrawal"]["payment"] is None
    assert [e["code"] for e in refused["data"]["requestWithdrawal"]["errors"]] == ["STEP_UP_REQUIRED"], refused
    before = await _wallet(client)
    assert before and Decimal(before["held"]) == Decimal("0")
    await client("mutation($c: String!) { stepUp(code: $c) { ok errors { code } } }", {"c": await person.code()})
    payment = (await client(request, variables))["requestWithdrawal"]["payment"]
    assert (payment["approval"], payment["amount"]) == ("awaiting", "200.00"), payment
    wallet = await _wallet(client)
    assert wallet and Decimal(wallet["held"]) == Decimal("200")
    finance = world.as_("finance")
    pending = await finance("{ pendingWithdrawals(first: 20) { nodes { id reference } } }")
    assert {"id": payment["id"], "reference": payment["reference"]} in pending["pendingWithdrawals"]["nodes"]
    await finance("""mutation($p: ID!) { approveWithdrawal(id: $p) { payment { id status approval }
        errors { code field message } } }""", {"p": payment["id"]})

    async def settled() -> dict[str, Any] | None:
        got = (await client("""query($p: ID!) { payment(id: $p) { id status approval amount } }""",
                            {"p": payment["id"]}))["payment"]
        return got if got["status"] == "SUCCEEDED" else None

    await world.until("the Stripe payout webhook settling the withdrawal", settled, within_s=45)
    wallet = await _wallet(client)
    assert wallet and (Decimal(wallet["balance"]), Decimal(wallet["held"])) == (
        Decimal(before["balance"]) - 200, Decimal("0"))
    world.state["withdrawal"] = payment


async def test_14_reconciliation_with_no_break(world: World) -> None:
    finance = world.as_("finance")
    deposit, withdrawal = world.state["deposit"], world.state["withdrawal"]
    # The PSP's settlement report for the day, as finance builds it from Stripe's balance transactions
    # (read with the broker's secret key): each charge and refund, with our reference from its metadata.
    lines = []
    async with httpx.AsyncClient(base_url=world.stripe_url, timeout=20,
                                 headers={"Authorization": f"Bearer {world.env['FOREXCRM_PSP_STRIPE_API_KEY']}"}) as stripe:
        listed = (await stripe.get("/v1/balance_transactions", params={"expand[]": "data.source"})).json()
        for txn in listed["data"]:
            metadata = txn["source"].get("metadata") or {}
            if txn["type"] == "charge":  # the reference travels on the PaymentIntent
                metadata = (await stripe.get(f"/v1/payment_intents/{txn['source']['payment_intent']}")).json()["metadata"]
            settled = datetime.fromtimestamp(txn["created"], UTC).isoformat()
            lines.append(f"stripe,{metadata['reference']},{Decimal(txn['amount']) / 100:.2f},{txn['currency'].upper()},"
                         f"{Decimal(txn['fee']) / 100:.2f},{settled},settled\n")
    assert sorted(line.split(",")[1] for line in lines) == sorted([deposit["reference"], withdrawal["reference"]])
    report = "provider,reference,amount,currency,fee,settled_at,status\n" + "".join(lines)
    imported = await finance("""mutation($c: String!) { importSettlementReport(provider: "stripe", csv: $c) {
        errors { code field message } } }""", {"c": report})
    assert imported["importSettlementReport"]["errors"] == []
    await asyncio.sleep(0.1)
    reconcile = """mutation($c: DateTime) { runReconciliation(cutoff: $c) { run { id status summary {
        matched breaks openBreaks sections { section matched breaks } } clientMoney { currency requirement
        closeDate kind } } errors { code field message } } }"""
    cutoff = datetime.now(UTC).isoformat()
    first = (await finance(reconcile, {"c": cutoff}))["runReconciliation"]["run"]
    # Client money: finance records the segregated bank balance its statement shows for the close (here
    # exactly the requirement), the run of that cutoff again matches, and the result is signed off.
    for line in first["clientMoney"]:
        recorded = await finance("""mutation($i: ClientMoneyResourceInput!) { recordClientMoneyResource(input: $i) {
            errors { code field message } } }""", {"i": {"asOf": line["closeDate"], "kind": "BANK",
                                                         "account": "client money a/c", "currency": line["currency"],
                                                         "balance": line["requirement"]}})
        assert recorded["recordClientMoneyResource"]["errors"] == [], recorded
    run = (await finance(reconcile, {"c": cutoff}))["runReconciliation"]["run"]
    assert [x["kind"] for x in run["clientMoney"]] == ["matched"] * len(first["clientMoney"]), run
    # Four eyes: finance recorded the resources, so another person (here the second administrator) signs off.
    signed = await world.as_("admin2")("""mutation($r: ID!) { signOffClientMoney(runId: $r) { signOff { openBreaks }
        errors { code field message } } }""", {"r": run["id"]})
    assert signed["signOffClientMoney"] == {"signOff": {"openBreaks": 0}, "errors": []}, signed
    if run["summary"]["breaks"]:
        breaks = await finance("""{ reconciliationBreaks(first: 50) { nodes { section kind key amountDiff
            suggestedCause evidence } } }""")
        raise AssertionError(f"reconciliation found breaks: {run['summary']}\n{breaks}")
    sections = {s["section"]: (s["matched"], s["breaks"]) for s in run["summary"]["sections"]}
    # Stripe's deposit and payout against the ledger; the transfer against the platform's balance operation.
    assert (run["status"], sections["PSP"], sections["TRADING"]) == ("done", (2, 0), (1, 0)), run
