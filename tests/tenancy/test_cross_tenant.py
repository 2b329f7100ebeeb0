"""Every field that takes an ID refuses callers outside the owner's tenant, leaking nothing.

Fields are discovered from the schema; each needs a case in cases.py (a new field without one
fails `test_every_id_field_has_a_case`). Outsiders: anonymous, another client, a staff user
with 2FA but without the permission, and desk staff (support + sales, every read a desk role has)
on another desk than the owner's client: desk scoping answers "not found" like a tenancy miss.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.shared.settings import Settings
from schema.root import build_schema
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.tenancy.cases import CASES, Env, Probe
from tests.tenancy.discovery import fields_taking_ids

DISCOVERED = sorted(fields_taking_ids(build_schema(Settings())._schema))
REFUSALS = {"UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "SESSION_NOT_FOUND"}
# Fields whose objects belong to no client, so to no desk: desk staff with the permission may read them.
NOT_DESK_SCOPED = {"Query.instruments": "a trading server's symbols are the same for every desk",
                   "Query.marginAlertLevels": "a trading server's margin alert levels are the same for every desk"}


def test_every_id_field_has_a_case() -> None:
    missing = [name for name in DISCOVERED if name not in CASES]
    assert not missing, f"add a cross-tenant case in tests/tenancy/cases.py for: {missing}"


def _refused(body: dict[str, Any], probe: Probe) -> None:
    text = json.dumps(body)
    for secret in probe.secrets:
        assert secret not in text, f"leaked {secret!r}: {text}"
    codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
    data = body.get("data") or {}
    for value in data.values():
        if isinstance(value, dict) and value.get("errors"):
            codes |= {e["code"] for e in value["errors"]}
            assert value.get("ok") in (None, False)
        elif isinstance(value, list) and all(v is None for v in value):
            continue  # `nodes`: each id answered "not found"
        elif value is not None and not isinstance(value, dict):
            raise AssertionError(f"an outsider got data: {text}")
    if probe.empty_ok and not codes:
        return  # an empty, scoped answer: the secrets check above is what matters
    assert codes & REFUSALS or any(str(c).endswith("_NOT_FOUND") for c in codes), f"not refused: {text}"


async def _ask(outsider: GraphQLClient, probe: Probe) -> dict[str, Any]:
    if not probe.files:
        return await outsider(probe.query, probe.variables)
    headers = {"Apollo-Require-Preflight": "true", **({"Authorization": f"Bearer {outsider.token}"}
                                                      if outsider.token else {})}
    response = await outsider.http.post("/graphql", headers=headers, data={
        "operations": json.dumps({"query": probe.query,
                                  "variables": {**probe.variables, **{k: None for k in probe.files}}}),
        "map": json.dumps({k: [f"variables.{k}"] for k in probe.files})}, files=probe.files)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("name", DISCOVERED)
async def test_outsiders_are_refused(name: str, http: httpx.AsyncClient, session_factory, settings) -> None:
    owner = await register(GraphQLClient(http))
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    env = Env(owner=GraphQLClient(http, owner["accessToken"]), owner_id=int(owner["viewer"]["id"]),
              owner_email=owner["email"], admin=admin.client, session_factory=session_factory, settings=settings,
              http=http)
    home, away = f"home-{uuid.uuid4().hex[:8]}", f"away-{uuid.uuid4().hex[:8]}"
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE clients SET desk = :d WHERE user_id = :u"), {"d": home, "u": env.owner_id})
    probe = await CASES[name](env)
    other_client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    staff_without = (await make_staff(http, session_factory, settings, ["sales"])).client
    outsiders = [GraphQLClient(http), other_client, staff_without]
    if name not in NOT_DESK_SCOPED:
        outsiders.append((await make_staff(http, session_factory, settings, ["support", "sales"], desk=away)).client)
    try:
        for outsider in outsiders:
            _refused(await _ask(outsider, probe), probe)
    finally:
        if probe.cleanup is not None:
            await probe.cleanup()
