"""Suspicious-transaction signals: compliance lists them (by status, kind, client; newest first,
keyset pages) and reviews them (escalate / dismiss / confirm with a note; who and when kept,
audited); refusals change nothing; desk staff see only their desk's clients' signals."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from domain.identity import roles as roles_service
from domain.payments.signals import raise_signal
from domain.shared.actor import system_actor
from tests.clients.staff_world import audit_of, make_client, scalar
from tests.identity.staff import make_staff

LIST = """query($s: [SignalStatus!], $k: [String!], $c: ID, $f: Int, $a: String) {
  paymentSignals(status: $s, kinds: $k, clientId: $c, first: $f, after: $a) {
    nodes { id: databaseId kind status userId clientId details reviewedBy reviewNote }
    pageInfo { hasNextPage endCursor } } }"""
REVIEW = """mutation($i: ID!, $d: SignalDecision!, $n: String!) { reviewPaymentSignal(signalId: $i, decision: $d, note: $n) {
  signal { id status reviewedBy reviewedAt reviewNote } errors { field code } } }"""


async def _signals(session_factory: Any, user_id: int, *kinds: str) -> list[int]:
    async with session_factory() as s, s.begin():
        for kind in kinds:
            await raise_signal(s, user_id=user_id, payment_id=None, kind=kind, details={"note": kind})
    async with session_factory() as s:
        from sqlalchemy import text

        return [int(i) for i in await s.scalars(text(
            "SELECT id FROM payment_signals WHERE user_id = :u ORDER BY id"), {"u": user_id})]


async def test_compliance_lists_signals_by_status_kind_and_client_newest_first(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    cid, uid, _ = await make_client(session_factory, settings, first="S", last="Signals")
    other_cid, other_uid, _ = await make_client(session_factory, settings, first="T", last="Signals")
    ids = await _signals(session_factory, uid, "high_risk_country", "rapid_in_out", "payer_name_mismatch")
    await _signals(session_factory, other_uid, "rapid_in_out")
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client

    mine = (await staff(LIST, {"c": str(cid)}))["data"]["paymentSignals"]["nodes"]
    assert [n["id"] for n in mine] == [str(i) for i in reversed(ids)]
    assert mine[0] == {"id": str(ids[2]), "kind": "payer_name_mismatch", "status": "OPEN", "userId": str(uid),
                       "clientId": str(cid), "details": {"note": "payer_name_mismatch"}, "reviewedBy": None,
                       "reviewNote": None}
    rapid = (await staff(LIST, {"c": str(cid), "k": ["rapid_in_out"]}))["data"]["paymentSignals"]["nodes"]
    assert [n["id"] for n in rapid] == [str(ids[1])]

    first = (await staff(LIST, {"c": str(cid), "f": 2}))["data"]["paymentSignals"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await staff(LIST, {"c": str(cid), "f": 2, "a": first["pageInfo"]["endCursor"]}))["data"]["paymentSignals"]
    assert [n["id"] for n in first["nodes"] + rest["nodes"]] == [str(i) for i in reversed(ids)]
    assert rest["pageInfo"]["hasNextPage"] is False

    await staff(REVIEW, {"i": str(ids[0]), "d": "DISMISS", "n": "known customer"})
    still_open = (await staff(LIST, {"c": str(cid), "s": ["OPEN"]}))["data"]["paymentSignals"]["nodes"]
    assert [n["id"] for n in still_open] == [str(ids[2]), str(ids[1])]
    dismissed = (await staff(LIST, {"c": str(cid), "s": ["DISMISSED"]}))["data"]["paymentSignals"]["nodes"]
    assert [n["id"] for n in dismissed] == [str(ids[0])]
    assert (await staff(LIST, {"c": str(other_cid)}))["data"]["paymentSignals"]["nodes"][0]["userId"] == str(other_uid)


async def test_review_escalates_then_confirms_keeping_who_when_and_why(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    _, uid, _ = await make_client(session_factory, settings, first="R", last="Review")
    [sid] = await _signals(session_factory, uid, "withdrawal_without_trading")
    officer = await make_staff(http, session_factory, settings, ["compliance"])

    escalated = (await officer.client(REVIEW, {"i": str(sid), "d": "ESCALATE", "n": "  ask the MLRO  "}))["data"]
    signal = escalated["reviewPaymentSignal"]["signal"]
    assert escalated["reviewPaymentSignal"]["errors"] == []
    assert (signal["status"], signal["reviewedBy"], signal["reviewNote"]) == ("ESCALATED", str(officer.user_id),
                                                                              "ask the MLRO")
    assert signal["reviewedAt"] is not None
    confirmed = (await officer.client(REVIEW, {"i": str(sid), "d": "CONFIRM", "n": "SAR filed"}))["data"]
    assert confirmed["reviewPaymentSignal"]["signal"]["status"] == "CONFIRMED"
    events = await audit_of(session_factory, "payment_signal", sid)
    assert [(e["action"], e["actor_user_id"], e["before"], e["after"], e["reason"]) for e in events] == [
        ("payment_signal.reviewed", officer.user_id, {"status": "open"}, {"status": "escalated"}, "ask the MLRO"),
        ("payment_signal.reviewed", officer.user_id, {"status": "escalated"}, {"status": "confirmed"}, "SAR filed")]


async def test_bad_reviews_are_refused_with_exact_codes_and_change_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    _, uid, _ = await make_client(session_factory, settings, first="B", last="Bad")
    [open_id, done_id] = await _signals(session_factory, uid, "high_risk_country", "rapid_in_out")
    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    await officer(REVIEW, {"i": str(done_id), "d": "DISMISS", "n": "fine"})
    before_audit = len(await audit_of(session_factory, "payment_signal", done_id))
    for variables, error in (
            ({"i": str(open_id), "d": "DISMISS", "n": "   "}, {"field": "note", "code": "VALIDATION_FAILED"}),
            ({"i": str(open_id), "d": "DISMISS", "n": "x" * 2001}, {"field": "note", "code": "VALIDATION_FAILED"}),
            ({"i": str(done_id), "d": "CONFIRM", "n": "changed my mind"},
             {"field": "signalId", "code": "SIGNAL_ALREADY_REVIEWED"}),
            ({"i": "999999999999", "d": "CONFIRM", "n": "x"}, {"field": "signalId", "code": "SIGNAL_NOT_FOUND"}),
            ({"i": "abc", "d": "CONFIRM", "n": "x"}, {"field": "signalId", "code": "INVALID_ID"})):
        body = (await officer(REVIEW, variables))["data"]["reviewPaymentSignal"]
        assert body == {"signal": None, "errors": [error]}, variables
    assert await scalar(session_factory, "SELECT status FROM payment_signals WHERE id = :i", i=open_id) == "open"
    assert await scalar(session_factory, "SELECT status FROM payment_signals WHERE id = :i", i=done_id) == "dismissed"
    assert await audit_of(session_factory, "payment_signal", open_id) == []
    assert len(await audit_of(session_factory, "payment_signal", done_id)) == before_audit

    support = (await make_staff(http, session_factory, settings, ["support"])).client
    for query, variables in ((REVIEW, {"i": str(open_id), "d": "DISMISS", "n": "x"}), (LIST, {})):
        refused = await support(query, variables)
        assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad_cursor = await officer(LIST, {"a": "nope"})
    assert bad_cursor["data"] is None and bad_cursor["errors"][0]["extensions"]["code"] == "INVALID_PAGE_ARGUMENTS"
    assert await scalar(session_factory, "SELECT status FROM payment_signals WHERE id = :i", i=open_id) == "open"


async def test_desk_scoped_reviewers_see_and_review_only_their_desks_signals(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    home, away = f"home-{uuid.uuid4().hex[:6]}", f"away-{uuid.uuid4().hex[:6]}"
    home_cid, home_uid, _ = await make_client(session_factory, settings, first="H", last="Home", desk=home)
    away_cid, away_uid, _ = await make_client(session_factory, settings, first="A", last="Away", desk=away)
    [home_sid] = await _signals(session_factory, home_uid, "rapid_in_out")
    [away_sid] = await _signals(session_factory, away_uid, "rapid_in_out")
    role = f"desk-aml-{uuid.uuid4().hex[:6]}"
    async with session_factory() as s, s.begin():
        await roles_service.create_role(s, system_actor("test"), name=role, description="desk AML",
                                        permissions=["compliance.read", "compliance.review"])
    reviewer = (await make_staff(http, session_factory, settings, [role], desk=home)).client

    seen = (await reviewer(LIST, {"f": 100}))["data"]["paymentSignals"]["nodes"]
    assert str(home_sid) in [n["id"] for n in seen] and str(away_sid) not in [n["id"] for n in seen]
    assert (await reviewer(LIST, {"c": str(away_cid)}))["data"]["paymentSignals"]["nodes"] == []
    refused = (await reviewer(REVIEW, {"i": str(away_sid), "d": "DISMISS", "n": "x"}))["data"]["reviewPaymentSignal"]
    assert refused == {"signal": None, "errors": [{"field": "signalId", "code": "SIGNAL_NOT_FOUND"}]}
    assert await scalar(session_factory, "SELECT status FROM payment_signals WHERE id = :i", i=away_sid) == "open"
    ok = (await reviewer(REVIEW, {"i": str(home_sid), "d": "DISMISS", "n": "fine"}))["data"]["reviewPaymentSignal"]
    assert ok["signal"]["status"] == "DISMISSED"
    assert (await reviewer(LIST, {"c": str(home_cid)}))["data"]["paymentSignals"]["nodes"][0]["status"] == "DISMISSED"
