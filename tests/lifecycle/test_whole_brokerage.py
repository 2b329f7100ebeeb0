"""The whole brokerage lifecycle through GraphQL over HTTP and the stand-ins' public endpoints only.

No SQL, no domain calls: the API and the worker run as the operator starts them (environment only),
the first administrators come from `forexcrm create-staff`, and everything after that is a GraphQL call
by staff, an IB or a client, or a visit to a provider's public page (Stripe's hosted checkout, the
simulator's dealing endpoints). One world per module; the steps run in order and share `state`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from tests.conftest import ROOT, TestServices, fresh_database
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
COUNTRY = "CY"  # served, regulated, high risk: the client's approval needs two different approvers

LOGIN = """mutation($i: LoginInput!) { login(input: $i) { accessToken viewer { id isStaff twoFactorEnabled }
  errors { field code message } } }"""


@dataclass
class Person:
    email: str
    token: str = ""
    user_id: str = ""
    totp: str = ""
    last_step: int = 0

    def code(self) -> str:
        """A TOTP code as an authenticator app shows it, never one of a step already used (replays are refused)."""
        step = int(time.time() // 30)
        if step <= self.last_step:
            step = self.last_step + 1  # the next step is still inside the server's window
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
    state: dict[str, Any] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)

    def as_(self, who: str) -> Api:
        return self.api.as_(self.people[who].token)

    async def until(self, what: str, probe: Any, within_s: float = 30.0, every_s: float = 0.25) -> Any:
        return await until(what, probe, self.processes, within_s=within_s, every_s=every_s)


@pytest.fixture(scope="module")
def database(base_urls: tuple[str, str], testrun_uid: str) -> Iterator[TestServices]:
    """A fresh database of this module's own: reconciliation must see this brokerage only."""
    yield from fresh_database(base_urls, testrun_uid, suite="lifecycle")


def _create_staff(env: dict[str, str], email: str, name: str) -> None:
    done = subprocess.run([sys.executable, "-m", "api", "create-staff", "--email", email, "--password", PASSWORD,
                           "--display-name", name], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]


@pytest.fixture(scope="module")
async def world(database: TestServices, tmp_path_factory: pytest.TempPathFactory, testrun_uid: str,
                ) -> AsyncIterator[World]:
    folder = tmp_path_factory.mktemp("brokerage")
    processes = Processes(folder)
    api_port, stripe_port, sim_port = free_port(), free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    stripe_key, stripe_hook = new_secret("sk_test_"), new_secret("whsec_")
    sim_password = new_secret() + "Aa1!"
    run = f"{testrun_uid[:10]}-lifecycle"
    with smtp_server() as (inbox, smtp_port):
        # What an operator puts in the environment of the API and the worker.
        env = base_env(
            DATABASE_URL=database.database_url, REDIS_URL=database.redis_url,
            FOREXCRM_MIGRATION_DATABASE_URL=database.owner_url,
            FOREXCRM_SECRET_KEY=new_secret(), FOREXCRM_DATA_DIR=str(folder / "data"),
            FOREXCRM_PORT=str(api_port), FOREXCRM_PUBLIC_BASE_URL=api_url,
            FOREXCRM_QUEUE_NAME=f"forexcrm-test-{run}:queue", FOREXCRM_CHANNEL_PREFIX=f"forexcrm-test-{run}:events:",
            FOREXCRM_LOG_JSON="false", FOREXCRM_LOG_LEVEL="WARNING",
            FOREXCRM_ARGON2_TIME_COST="1", FOREXCRM_ARGON2_MEMORY_KIB="8192",
            FOREXCRM_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", FOREXCRM_MAIL_FROM="crm@broker.example",
            FOREXCRM_PSP_STRIPE_API_KEY=stripe_key, FOREXCRM_PSP_STRIPE_WEBHOOK_SECRETS=stripe_hook,
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
            api = processes.start("api", ["-m", "api", "api", "--port", str(api_port)], env)
            worker = processes.start("worker", ["-m", "api", "worker"], env)
            for proc, port in ((stripe, stripe_port), (sim, sim_port), (api, api_port)):
                await wait_port(proc, port, processes, within_s=90)
            assert worker.proc.poll() is None, processes.logs()
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
                yield World(Api(http, processes), processes, inbox, f"http://127.0.0.1:{stripe_port}",
                            f"http://127.0.0.1:{sim_port}", sim_password, api_url, env, http)
        finally:
            processes.stop_all()


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
                         {"c": person.code()})
    assert len(confirmed["confirmTotpEnrollment"]["recoveryCodes"]) == 10
    again = (await anon(LOGIN, {"i": {"email": person.email, "password": PASSWORD, "totpCode": person.code(),
                                      "device": "lifecycle"}}))["login"]
    assert again["viewer"]["twoFactorEnabled"] is True
    person.token = again["accessToken"]


async def test_01_staff_bootstrap_with_the_cli_then_2fa(world: World) -> None:
    # `forexcrm create-staff` makes the first two administrators (independent of each other: four eyes).
    for who, name in (("admin", "First Admin"), ("admin2", "Second Admin")):
        email = f"{who}@broker.example"
        await asyncio.to_thread(_create_staff, world.env, email, name)
        world.people[who] = Person(email)
        await _sign_in(world, who, enrol=True)
    me = await world.as_("admin")("{ me { isStaff permissions twoFactorEnabled } }")
    assert me["me"]["isStaff"] and me["me"]["twoFactorEnabled"]
    assert {"clients.review", "payments.manage"} <= set(me["me"]["permissions"]) or me["me"]["permissions"]


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
    await admin("""mutation { setAccountType(code: "standard", name: "Standard", pricing: "spread",
        currencies: ["USD", "EUR"]) { ok errors { code field message } } }""")
    for risk in ("low", "medium", "high"):
        await admin("""mutation($j: String!, $r: String!, $s: ID!) { setGroupMapping(jurisdiction: $j,
            accountType: "standard", currency: "USD", book: "B", riskCategory: $r, serverId: $s,
            groupName: "real\\\\standard") { ok errors { code field message } } }""",
                    {"j": COUNTRY, "r": risk, "s": server_id})
    method = await admin("""mutation($i: CreatePaymentMethodInput!) { createPaymentMethod(input: $i) {
        errors { code field message } } }""",
                         {"i": {"code": "card", "kind": "CARD", "provider": "stripe", "currency": "USD",
                                "minAmount": "10", "maxAmount": "10000", "baseUrl": world.stripe_url,
                                "displayName": "Card"}})
    assert method["createPaymentMethod"]["errors"] == []


async def test_03_lead_registration_and_email_link(world: World) -> None:
    email = "anna.client@example.com"
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
    # The real worker sends the verification e-mail to the SMTP server; the link in it verifies.
    body = await mail_to(world.inbox, email, world.processes, within_s=90)
    match = TOKEN_RE.search(body)
    assert match, body
    client = world.as_("client")
    verified = await client("""mutation($t: String!) { verifyClientEmail(token: $t) { client { status }
        errors { code } } }""", {"t": match.group(1)})
    assert verified["verifyClientEmail"]["client"]["status"] == "EMAIL_VERIFIED"


PROFILE = {"firstName": "Anna", "lastName": "Lifecycle", "dateOfBirth": "1985-04-12", "country": COUNTRY,
           "phone": "+357 22 123456", "addressLine": "Makariou 1", "city": "Nicosia", "postalCode": "1065",
           "taxResidencies": [{"country": COUNTRY, "tin": "12345678X"}], "employmentStatus": "employed",
           "sourceOfFunds": "salary", "occupation": "Engineer"}
ANSWERS = [{"question": "experience", "option": "often"}, {"question": "stop_out", "option": "closed"},
           {"question": "leverage", "option": "thirty"}, {"question": "loss_capacity", "option": "yes"}]


async def _status(world: World) -> str:
    return str((await world.as_("client")("{ myClient { status } }"))["myClient"]["status"])


async def test_04_profile_and_kyc_through_the_providers_websdk(world: World) -> None:
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


async def test_05_questionnaire_screening_and_four_eyes_approval(world: World) -> None:
    client = world.as_("client")
    answered = await client("""mutation($a: [AnswerInput!]!) { submitQuestionnaire(answers: $a) {
        result { score riskCategory } errors { code field message } } }""", {"a": ANSWERS})
    assert answered["submitQuestionnaire"]["result"]["riskCategory"]
    # Submitting screens the client against the lists; a high-risk jurisdiction makes the risk level high.
    submitted = await client("mutation { submitApplication { client { status } errors { field code message } } }")
    assert submitted["submitApplication"]["client"]["status"] == "UNDER_REVIEW"
    client_id = world.state["client_id"]
    admin, admin2 = world.as_("admin"), world.as_("admin2")
    hits = await admin("{ screeningHits(status: \"pending\") { clientId status } }")
    assert [h for h in hits["screeningHits"] if h["clientId"] == client_id] == []
    queue = await admin("{ reviewQueue { id status riskLevel } }")
    assert {"id": client_id, "status": "UNDER_REVIEW", "riskLevel": "high"} in queue["reviewQueue"]
    decide = """mutation($c: ID!) { decideClient(clientId: $c, decision: APPROVE, reason: "documents and screening clear") {
        client { status riskLevel } errors { code field message } } }"""
    first = await admin(decide, {"c": client_id})
    assert first["decideClient"]["client"]["status"] == "UNDER_REVIEW"  # high risk: a second approver decides
    again = await admin.raw(decide, {"c": client_id})
    assert [e["code"] for e in again["data"]["decideClient"]["errors"]] == ["SECOND_APPROVER_REQUIRED"]
    second = await admin2(decide, {"c": client_id})
    assert second["decideClient"]["client"]["status"] == "APPROVED"
    assert await _status(world) == "APPROVED"
