"""Fixtures: the GraphQL view with multipart uploads on (as api/app.py will mount it), a simulator
process behind a configured trading server, brokerage configuration for Germany (ESMA), and the
Sumsub stand-in wired to the live server's /webhooks/sumsub."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from api.graphql_view import MeteredGraphQLView
from domain.clients import config
from domain.shared.actor import system_actor
from domain.shared.settings import Settings
from domain.trading.servers import ServerConfig, upsert_server
from sandbox.kyc import KycStandIn, kyc_standin
from schema.root import build_schema
from tests.conftest import LiveServer, free_port, unique
from tests.platforms.conftest import MANAGER_LOGIN, SimServer

SAMPLE_LIST = Path(__file__).resolve().parents[2] / "domain" / "compliance" / "data" / "sample_ftm.jsonl"


@pytest.fixture(scope="session")
async def upload_url(runtime: Any, settings: Settings) -> AsyncIterator[str]:
    view = MeteredGraphQLView(runtime.services, schema=build_schema(settings), multipart_uploads_enabled=True,
                              allow_queries_via_get=False)
    app = Starlette(routes=[Route("/graphql", view, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off",
                                           access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}/graphql"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
def client_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    server = SimServer(tmp_path_factory.mktemp("clients-sim"), password=secrets.token_urlsafe(12) + "Aa1!", seed=5)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def brokerage(runtime: Any, settings: Settings, client_sim: SimServer) -> int:
    """Germany served and regulated with ESMA retail caps; standard USD accounts on the simulator."""
    actor = system_actor("test")
    async with runtime.services.session_factory() as s, s.begin():
        server_id = await upsert_server(s, settings.secret_key.get_secret_value(), ServerConfig(
            name=unique("clients-sim"), base_url=client_sim.base_url, manager_login=MANAGER_LOGIN,
            password=client_sim.password))
        # SC: offshore and unregulated, no leverage caps, so leverage changes there go to a dealer.
        for country, high_risk in (("DE", False), ("AE", False), ("CY", True), ("SC", False)):
            await config.set_jurisdiction(s, actor, country=country, served=True, regulated=country != "SC",
                                          regulator="BaFin", high_risk=high_risk)
            if country != "SC":
                await config.apply_esma_retail(s, actor, country)
            await config.set_account_type(s, actor, code="standard", name="Standard", pricing="spread",
                                          currencies=["USD", "EUR"])
            for risk in config.RISK_CATEGORIES:
                await config.set_group_mapping(s, actor, jurisdiction=country, account_type="standard",
                                               currency="USD", book="B", risk_category=risk, server_id=server_id,
                                               group_name="real\\standard")
        await config.set_leverage_cap(s, actor, scope="risk", key="high", asset_class="*", max_leverage=10)
    return int(server_id)


async def upload(http: httpx.AsyncClient, url: str, token: str, query: str, variables: dict[str, Any],
                 files: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
    """A GraphQL multipart request (operations, map, files)."""
    import json

    mapping = {key: [f"variables.{key}"] for key in files}
    response = await http.post(url, headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "true"}, data={
        "operations": json.dumps({"query": query, "variables": {**variables, **{k: None for k in files}}}),
        "map": json.dumps(mapping)}, files={k: (name, data) for k, (name, data) in files.items()})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# The provider's previous webhook secret, still accepted while it rotates to the stand-in's.
OLD_WEBHOOK_SECRET = secrets.token_hex(16)


@pytest.fixture(scope="session")
async def kyc_server(live_server: LiveServer) -> AsyncIterator[KycStandIn]:
    async with kyc_standin(live_server.base_url + "/webhooks/sumsub") as stand_in:
        yield stand_in


@pytest.fixture
def kyc(kyc_server: KycStandIn, brokerage: int, monkeypatch: pytest.MonkeyPatch) -> KycStandIn:
    """The stand-in, configured as our provider (FOREXCRM_KYC_* are read per use)."""
    monkeypatch.setenv("FOREXCRM_KYC_PROVIDER", "sumsub")
    monkeypatch.setenv("FOREXCRM_KYC_BASE_URL", kyc_server.base_url)
    monkeypatch.setenv("FOREXCRM_KYC_APP_TOKEN", kyc_server.app_token)
    monkeypatch.setenv("FOREXCRM_KYC_SECRET_KEY", kyc_server.secret_key)
    monkeypatch.setenv("FOREXCRM_KYC_WEBHOOK_SECRETS", f"{kyc_server.webhook_secret},{OLD_WEBHOOK_SECRET}")
    return kyc_server
