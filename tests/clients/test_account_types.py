"""Account types managed by staff (create, update, disable; audited, permission-checked) and chosen by
clients, with a currency the type offers, when they open a live account."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from tests.clients.flow import DECIDE, SUBMIT, registered, to_documents
from tests.conftest import unique
from tests.identity.staff import make_staff
from tests.ids import db_id

FIELDS = "code name currencies defaultLeverage maxLeverage live minDeposit enabled serverId groupName"
CREATE = f"""mutation($i: AccountTypeInput!) {{ createAccountType(input: $i) {{ accountType {{ {FIELDS} }}
  errors {{ code field }} }} }}"""
UPDATE = f"""mutation($i: AccountTypeInput!) {{ updateAccountType(input: $i) {{ accountType {{ {FIELDS} }}
  errors {{ code field }} }} }}"""
ENABLE = """mutation($c: String!, $e: Boolean!) { setAccountTypeEnabled(code: $c, enabled: $e) {
  accountType { code enabled } errors { code field } } }"""
LIST = "{ accountTypes { code currencies maxLeverage serverId groupName } }"
OPEN = """mutation($i: OpenMyLiveAccountInput!) { openMyLiveAccount(input: $i) {
  account { id login group leverage currency accountTypeCode } status errors { code field } } }"""


async def _rows(session_factory: Any, code: str) -> tuple[int, int]:
    async with session_factory() as s:
        types = await s.scalar(text("SELECT count(*) FROM brokerage_account_types WHERE code = :c"), {"c": code})
        audits = await s.scalar(text("SELECT count(*) FROM audit_events WHERE entity_type = 'account_type' "
                                     "AND entity_id = :c"), {"c": code})
    return int(types or 0), int(audits or 0)


async def test_staff_manage_account_types(http: httpx.AsyncClient, session_factory: Any, settings: Any,
                                          brokerage: int) -> None:
    config = await make_staff(http, session_factory, settings, ["administrator"])
    dealer = await make_staff(http, session_factory, settings, ["dealer"])  # no config.manage
    code = "pro_" + uuid.uuid4().hex[:8]
    good = {"code": code, "name": "Pro", "currencies": ["USD", "EUR"], "serverId": str(brokerage),
            "groupName": "real\\pro", "defaultLeverage": 30, "maxLeverage": 100, "minDeposit": "500.00"}

    forbidden = await dealer.client(CREATE, {"i": good})
    assert forbidden["data"] is None and forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for bad, code_, field in (
            ({"code": "not valid"}, "INVALID_BROKERAGE_CONFIGURATION", "code"),
            ({"name": " "}, "INVALID_BROKERAGE_CONFIGURATION", "name"),
            ({"currencies": []}, "INVALID_BROKERAGE_CONFIGURATION", "currencies"),
            ({"currencies": ["XXQ"]}, "INVALID_BROKERAGE_CONFIGURATION", "currencies"),
            ({"defaultLeverage": 200}, "INVALID_BROKERAGE_CONFIGURATION", "defaultLeverage"),
            ({"maxLeverage": 9000}, "INVALID_BROKERAGE_CONFIGURATION", "defaultLeverage"),
            ({"serverId": "987654321"}, "INVALID_BROKERAGE_CONFIGURATION", "serverId"),
            ({"serverId": "x"}, "INVALID_BROKERAGE_CONFIGURATION", "serverId"),
            ({"groupName": None}, "INVALID_BROKERAGE_CONFIGURATION", "groupName"),
            ({"pricing": "free"}, "INVALID_BROKERAGE_CONFIGURATION", "pricing")):
        refused = await config.client(CREATE, {"i": {**good, **bad}})
        assert refused["data"]["createAccountType"] == {"accountType": None, "errors": [
            {"code": code_, "field": field}]}, (bad, refused)
    assert await _rows(session_factory, code) == (0, 0)

    made = await config.client(CREATE, {"i": good})
    assert made["data"]["createAccountType"]["errors"] == []
    assert made["data"]["createAccountType"]["accountType"] == {
        "code": code, "name": "Pro", "currencies": ["EUR", "USD"], "defaultLeverage": 30, "maxLeverage": 100,
        "live": True, "minDeposit": "500.00", "enabled": True, "serverId": str(brokerage), "groupName": "real\\pro"}
    again = await config.client(CREATE, {"i": good})
    assert again["data"]["createAccountType"]["errors"] == [{"code": "ACCOUNT_TYPE_EXISTS", "field": "code"}]

    changed = await config.client(UPDATE, {"i": {**good, "name": "Pro+", "maxLeverage": 50}})
    assert changed["data"]["updateAccountType"]["accountType"]["maxLeverage"] == 50
    missing = await config.client(UPDATE, {"i": {**good, "code": "nope_" + uuid.uuid4().hex[:6]}})
    assert missing["data"]["updateAccountType"]["errors"] == [{"code": "ACCOUNT_TYPE_NOT_FOUND", "field": "code"}]
    before = await _rows(session_factory, code)
    bad_update = await config.client(UPDATE, {"i": {**good, "defaultLeverage": 0}})
    assert bad_update["data"]["updateAccountType"]["errors"][0]["code"] == "INVALID_BROKERAGE_CONFIGURATION"
    assert await _rows(session_factory, code) == before

    off = await config.client(ENABLE, {"c": code, "e": False})
    assert off["data"]["setAccountTypeEnabled"]["accountType"] == {"code": code, "enabled": False}
    async with session_factory() as s:
        actions = list(await s.scalars(text("SELECT action FROM audit_events WHERE entity_type = 'account_type' "
                                            "AND entity_id = :c ORDER BY id"), {"c": code}))
    assert actions == ["brokerage.account_type_created", "brokerage.account_type_updated",
                       "brokerage.account_type_disabled"]
    staff_view = {t["code"]: t for t in (await config.client(LIST))["data"]["accountTypes"]}
    assert staff_view[code]["serverId"] == str(brokerage)
    client, _, _ = await registered(http)
    offered = {t["code"]: t for t in (await client(LIST))["data"]["accountTypes"]}
    assert code not in offered  # disabled: not offered
    assert all(t["serverId"] is None and t["groupName"] is None for t in offered.values())


async def test_clients_open_the_type_and_currency_they_choose(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, upload_url: str, brokerage: int) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    code = "ecn_" + uuid.uuid4().hex[:8]
    made = await admin.client(CREATE, {"i": {"code": code, "name": "ECN", "currencies": ["EUR"],
                                             "serverId": str(brokerage), "groupName": "real\\raw",
                                             "defaultLeverage": 20, "maxLeverage": 30}})
    assert made["data"]["createAccountType"]["errors"] == []
    client, _, client_id = await to_documents(http, session_factory, upload_url)
    await client(SUBMIT)
    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    await compliance.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "ok"})

    async def counts() -> tuple[int, int]:
        async with session_factory() as s:
            requests = await s.scalar(text("SELECT count(*) FROM client_account_requests WHERE client_id = :c"),
                                      {"c": db_id(client_id)})
            accounts = await s.scalar(text("SELECT count(*) FROM trading_accounts t JOIN clients c ON "
                                           "c.user_id = t.user_id WHERE c.id = :c"), {"c": db_id(client_id)})
        return int(requests or 0), int(accounts or 0)

    before = await counts()
    for bad, code_, field in (({"accountType": "no_such"}, "ACCOUNT_TYPE_NOT_FOUND", "accountType"),
                              ({"currency": "USD"}, "ACCOUNT_CURRENCY_NOT_OFFERED", "currency"),
                              ({"currency": "ZZZ"}, "ACCOUNT_CURRENCY_NOT_OFFERED", "currency"),
                              ({"leverage": 50}, "LEVERAGE_ABOVE_CAP", "leverage")):
        refused = await client(OPEN, {"i": {"accountType": code, "currency": "EUR", "idempotencyKey": unique("k"),
                                            **bad}})
        assert refused["data"]["openMyLiveAccount"]["errors"] == [{"code": code_, "field": field}], (bad, refused)
    assert await counts() == before

    opened = await client(OPEN, {"i": {"accountType": code, "currency": "EUR", "idempotencyKey": "first"}})
    payload = opened["data"]["openMyLiveAccount"]
    assert payload["errors"] == [] and payload["status"] == "created", opened
    assert payload["account"]["currency"] == "EUR" and payload["account"]["group"] == "real\\raw"
    assert payload["account"]["leverage"] == 20 and payload["account"]["accountTypeCode"] == code
    mine = (await client("{ myTradingAccounts { nodes { id accountTypeCode } } }"))["data"]["myTradingAccounts"]["nodes"]
    assert {"id": payload["account"]["id"], "accountTypeCode": code} in mine
    repeat = await client(OPEN, {"i": {"accountType": code, "currency": "EUR", "idempotencyKey": "first"}})
    assert repeat["data"]["openMyLiveAccount"]["account"]["id"] == payload["account"]["id"]

    await admin.client(ENABLE, {"c": code, "e": False})
    disabled = await client(OPEN, {"i": {"accountType": code, "currency": "EUR", "idempotencyKey": "second"}})
    assert disabled["data"]["openMyLiveAccount"]["errors"] == [{"code": "ACCOUNT_TYPE_NOT_FOUND",
                                                                 "field": "accountType"}]
