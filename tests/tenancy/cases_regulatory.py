"""Cross-tenant cases for regulatory report files and clients' identifiers (imported by cases.py): only staff
holding regulatory.reports reach them; a client (the one identified or another), staff without the permission
and desk staff never see a file's header or a client's national identifier."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.tenancy.cases import Env, Probe, case
from tests.tenancy.cases_clients import _owner_client

SECRET_MESSAGE = "SECRETMSG"


async def _file(env: Env) -> int:
    async with env.session_factory() as s, s.begin():
        return int(await s.scalar(text(
            "INSERT INTO regulatory_report_files (regime, business_date, part, parts, message_id, records, "
            "size_bytes, sha256, storage_key, header_xml) VALUES ('emir', date '1990-01-02', 1, 1, :m, 0, 1, "
            "repeat('0', 64), :k, '<AppHdr>secret-header</AppHdr>') RETURNING id"),
            {"m": f"{SECRET_MESSAGE}{uuid.uuid4().hex[:12]}", "k": f"tenancy/{uuid.uuid4().hex}"}))


@case("Mutation.recordRegulatoryReportFileStatus")
async def record_status(env: Env) -> Probe:
    file_id = await _file(env)
    return Probe("mutation($f: ID!) { recordRegulatoryReportFileStatus(fileId: $f, status: ACCEPTED) { file { "
                 "messageId headerXml } errors { code } } }", {"f": str(file_id)},
                 secrets=[SECRET_MESSAGE, "secret-header"])


@case("Mutation.regulatoryReportFileLink")
async def file_link(env: Env) -> Probe:
    file_id = await _file(env)
    return Probe("mutation($f: ID!) { regulatoryReportFileLink(fileId: $f) { link { url } errors { code } } }",
                 {"f": str(file_id)}, secrets=["/documents/regulatory/"])


@case("Mutation.setClientRegulatoryIdentifier")
async def set_identifier(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("mutation($c: ID!) { setClientRegulatoryIdentifier(clientId: $c, nationalId: \"SECRET123456\", "
                 "nationalIdCountry: \"CY\") { identifier { nationalId } errors { code } } }", {"c": str(cid)},
                 secrets=["SECRET123456"])


async def _server(env: Env) -> int:
    async with env.session_factory() as s, s.begin():
        sid = int(await s.scalar(text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
            "VALUES (:n, 'mt5', 'http://127.0.0.1:1', 1, 'x') RETURNING id"), {"n": f"ten-{uuid.uuid4().hex[:8]}"}))
        await s.execute(text(
            "INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, contract_size, "
            "base_currency, quote_currency, digits, pip_size, underlying_isin) VALUES (:s, 'SECRETIDX', 'SECRETIDX', "
            "'indices', 1, 'USD', 'USD', 2, 0.01, 'DE0008469008')"), {"s": sid})
        return sid


@case("Mutation.setInstrumentRegulatoryReporting")
async def set_instrument_reporting(env: Env) -> Probe:
    sid = await _server(env)
    return Probe("mutation($s: ID!) { setInstrumentRegulatoryReporting(serverId: $s, symbol: \"SECRETIDX\", "
                 "mifirReportable: false) { instrument { symbol underlyingIsin } errors { code } } }",
                 {"s": str(sid)}, secrets=["DE0008469008"])



@case("Query.regulatoryCollateral")
async def collateral(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("query($c: ID!) { regulatoryCollateral(businessDate: \"2026-01-02\", clientId: $c) { "
                 "portfolioCode login } }", {"c": str(cid)})
