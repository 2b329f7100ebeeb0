"""Cross-tenant cases for trading servers' settings (imported by cases.py): margin alert levels are staff's
(trading.read to read, trading.manage to set); clients and staff without the permission are refused."""

from __future__ import annotations

from tests.tenancy.cases import Env, Probe, case
from tests.tenancy.cases_regulatory import _server


@case("Query.marginAlertLevels")
async def margin_alert_levels(env: Env) -> Probe:
    sid = await _server(env)
    return Probe("query($s: ID!) { marginAlertLevels(serverId: $s) { warningLevel stopOutLevel } }", {"s": str(sid)})


@case("Mutation.setMarginAlertLevels")
async def set_margin_alert_levels(env: Env) -> Probe:
    sid = await _server(env)
    return Probe("mutation($s: ID!) { setMarginAlertLevels(serverId: $s, warningLevel: \"120\", stopOutLevel: \"60\") "
                 "{ marginAlertLevels { warningLevel } errors { code } } }", {"s": str(sid)})
