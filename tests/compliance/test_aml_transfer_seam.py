"""A transfer monitoring held, resumed for real: the officer's review decision through the GraphQL API
(the live server) -> the outbox -> the `forexcrm worker` process (its relay, arq on the real Redis
queue) -> `aml_resume_transfer` calls the trading server (the simulator process, over the MT5 Web API)
-> the transfer is done and the ledger balances. Declined: the held money is the wallet's again and
the trading server is never called.

The worker knows the trading server only from the database, as in production: the server is
configured after the worker started (a staff member adds one while the worker runs)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.shared.settings import Settings
from schema.node import global_id
from tests.compliance.test_aml import document, live, watch  # noqa: F401
from tests.compliance.test_aml_triggers import client_actor, funded_account, rows, schema, transfer  # noqa: F401
from tests.identity.staff import make_staff
from tests.ledger.conftest import check_invariants, wallet_balance
from tests.platforms.conftest import SimServer, sim  # noqa: F401
from tests.worker_process import WorkerProcess, running_worker

DECIDE = """mutation($d: ID!, $r: String!) { %s(decisionId: $d, reason: $r) {
  decision { holdStatus } errors { field code } } }"""


@pytest.fixture(scope="module")
async def worker(settings: Settings, tmp_path_factory: Any) -> AsyncIterator[WorkerProcess]:
    log_path = tmp_path_factory.mktemp("aml-transfer-worker") / "worker.log"
    async with running_worker(settings, log_path, FOREXCRM_MAIL_DISABLED="true") as process:
        yield process


@pytest.fixture
async def account(session_factory: Any, settings: Settings, make_user: Any, sim: SimServer,  # noqa: F811
                  worker: WorkerProcess) -> AsyncIterator[dict[str, Any]]:
    """A client with 500 in the wallet and an account on a trading server configured (in the database,
    with the simulator's real manager password) after the worker started."""
    async with funded_account(session_factory, settings, make_user, sim, timeout=3.0) as a:
        yield a


async def _held(schema: Any, runtime: Any, session_factory: Any, live: Any, a: dict[str, Any],  # noqa: F811
                amount: str) -> tuple[int, int]:
    """(transfer id, decision id): a transfer of `amount` held by a live scenario."""
    await live(document(await watch(session_factory, a["uid"]), triggers=["transfer"], rules=[
        {"name": "large_transfer", "score": 60,
         "when": {"cmp": "gte", "left": {"field": "amount"}, "right": {"const": 100}}}]))
    held = await transfer(schema, runtime, a, amount)
    assert held["transfer"]["status"] == "HELD", held
    tid = int(held["transfer"]["databaseId"])
    [(decision_id,)] = await rows(session_factory, "SELECT id FROM aml_decisions WHERE subject = :s "
                                  "AND hold_status = 'held'", s=f"transfer:{tid}")
    return tid, int(decision_id)


def _job_log(worker: WorkerProcess) -> str:
    """The worker's log around the resume job (the rest is crons)."""
    lines = worker.log_text().splitlines()
    keep = [i for i, line in enumerate(lines) if "aml_resume_transfer" in line or "Traceback" in line]
    return "\n".join("\n".join(lines[i:i + 30]) for i in keep)[-6000:] or "\n".join(lines[-40:])


async def _status_becomes(session_factory: Any, worker: WorkerProcess, tid: int, wanted: str) -> None:
    deadline = time.monotonic() + 30
    while (await rows(session_factory, "SELECT status FROM ledger_transfers WHERE id = :i", i=tid))[0][0] != wanted:
        assert time.monotonic() < deadline, _job_log(worker)
        await asyncio.sleep(0.1)


async def test_a_released_transfer_is_carried_out_by_the_worker_process(
        worker: WorkerProcess, http: httpx.AsyncClient, schema: Any, runtime: Any, session_factory: Any,  # noqa: F811
        settings: Settings, live: Any, account: dict[str, Any]) -> None:  # noqa: F811
    a = account
    before = (await a["platform"].get_account_state(a["login"])).balance
    tid, decision_id = await _held(schema, runtime, session_factory, live, a, "300.00")
    assert await wallet_balance(session_factory, a["wallet"]) == (Decimal("500"), Decimal("300"))

    officer = await make_staff(http, session_factory, settings, ["compliance"])
    released = await officer.client(DECIDE % "releaseAmlHold", {"d": global_id("AmlDecision", decision_id),
                                                                 "r": "source of funds documented"})
    assert released["data"]["releaseAmlHold"] == {"decision": {"holdStatus": "released"}, "errors": []}, released

    await _status_becomes(session_factory, worker, tid, "done")
    assert await wallet_balance(session_factory, a["wallet"]) == (Decimal("200"), Decimal("0"))
    assert (await a["platform"].get_account_state(a["login"])).balance == before + Decimal("300")
    [(published,)] = await rows(session_factory, "SELECT published_at IS NOT NULL FROM outbox WHERE "
                                "job = 'aml_resume_transfer' AND (payload->>'transfer_id')::bigint = :t", t=tid)
    assert published
    await check_invariants(session_factory)


async def test_a_declined_transfer_returns_the_held_money_and_never_reaches_the_server(
        worker: WorkerProcess, http: httpx.AsyncClient, schema: Any, runtime: Any, session_factory: Any,  # noqa: F811
        settings: Settings, live: Any, account: dict[str, Any]) -> None:  # noqa: F811
    a = account
    before = (await a["platform"].get_account_state(a["login"])).balance
    tid, decision_id = await _held(schema, runtime, session_factory, live, a, "200.00")

    officer = await make_staff(http, session_factory, settings, ["compliance"])
    declined = await officer.client(DECIDE % "declineAmlHold", {"d": global_id("AmlDecision", decision_id),
                                                                 "r": "funds from a third party"})
    assert declined["data"]["declineAmlHold"] == {"decision": {"holdStatus": "declined"}, "errors": []}, declined
    assert (await rows(session_factory, "SELECT status, error_code FROM ledger_transfers WHERE id = :i",
                       i=tid))[0] == ("failed", "AML_DECLINED")
    assert await wallet_balance(session_factory, a["wallet"]) == (Decimal("500"), Decimal("0"))
    # Nothing was queued for the worker, and a while later the server still has not been called.
    assert await rows(session_factory, "SELECT id FROM outbox WHERE job = 'aml_resume_transfer' "
                      "AND (payload->>'transfer_id')::bigint = :t", t=tid) == []
    await asyncio.sleep(1.0)
    assert (await a["platform"].get_account_state(a["login"])).balance == before
    assert (await rows(session_factory, "SELECT status FROM ledger_transfers WHERE id = :i", i=tid))[0][0] == "failed"
    await check_invariants(session_factory)
