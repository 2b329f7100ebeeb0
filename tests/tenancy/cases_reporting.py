"""Cross-tenant cases for reporting's upkeep (reports.manage staff only; broker-wide configuration)."""

from __future__ import annotations

import uuid

from tests.tenancy.cases import Env, Probe, case
from tests.trading.conftest import new_server


@case("Mutation.setReportSpreadMarkup")
async def set_report_spread_markup(env: Env) -> Probe:
    server_id = await new_server(env.session_factory, "http://127.0.0.1:9", "x")
    group = f"secret-{uuid.uuid4().hex[:8]}"
    return Probe("mutation($s: ID!, $g: String!) { setReportSpreadMarkup(serverId: $s, group: $g, markupPips: \"1\") "
                 "{ spreadMarkup { group } errors { code } } }", {"s": str(server_id), "g": group}, [group])
