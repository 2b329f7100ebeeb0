"""Cross-tenant cases for the client lifecycle and compliance fields (imported by cases.py).

The owner's client record is put on a desk, so sales staff without that desk must not see it."""

from __future__ import annotations

from sqlalchemy import text

from domain.clients.models import Client
from domain.compliance.models import ScreeningResult
from tests.tenancy.cases import Env, Probe, case


async def _owner_client(env: Env) -> int:
    """A client record (on a desk) for the owner, with a document and a pending screening hit."""
    async with env.session_factory() as s, s.begin():
        found = await s.scalar(text("SELECT id FROM clients WHERE user_id = :u"), {"u": env.owner_id})
        if found is not None:
            return int(found)
        client = Client(user_id=env.owner_id, status="under_review", kind="individual", desk="tenancy-desk",
                        first_name="Secret", last_name="Ownerclient", profile={}, attribution={},
                        blocked_products=[], review_round=1, submitted_by=env.owner_id)
        s.add(client)
        await s.flush()
        await s.execute(text(
            "INSERT INTO client_documents (client_id, kind, filename, content_type, size_bytes, sha256, "
            "storage_key) VALUES (:c, 'proof_of_address', 'secret-bill.pdf', 'application/pdf', 10, "
            "repeat('a', 64), :k)"), {"c": client.id, "k": f"{client.id}/tenancy"})
        s.add(ScreeningResult(client_id=client.id, list_name="tenancy-list", list_version="v1",
                              matcher_version="align-1", threshold=0.85, score=0.9, entity_id="secret-entity",
                              entity_caption="Secret Listed", topics=[], status="pending"))
        return int(client.id)


@case("Query.client")
async def client_view(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("query($c: ID!) { client(id: $c) { firstName lastName email } }", {"c": str(cid)},
                 secrets=["Ownerclient", env.owner_email])


@case("Mutation.submitClientForReview")
async def submit_for_review(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("mutation($c: ID!) { submitClientForReview(clientId: $c) { client { name } errors { code } } }",
                 {"c": str(cid)}, secrets=["Ownerclient"])


@case("Mutation.decideClient")
async def decide(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("mutation($c: ID!) { decideClient(clientId: $c, decision: REJECT, reason: \"x\") {"
                 " client { name } errors { code } } }", {"c": str(cid)}, secrets=["Ownerclient"])


@case("Mutation.openLiveAccount")
async def open_account(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("mutation($c: ID!) { openLiveAccount(clientId: $c) { account { login } errors { code } } }",
                 {"c": str(cid)})


@case("Mutation.logClientCommunication")
async def log_note(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("mutation($c: ID!) { logClientCommunication(clientId: $c, kind: \"note\", body: \"hi\") {"
                 " communication { id } errors { code } } }", {"c": str(cid)})


@case("Mutation.reviewDocument")
async def review_document(env: Env) -> Probe:
    cid = await _owner_client(env)
    async with env.session_factory() as s:
        doc = await s.scalar(text("SELECT id FROM client_documents WHERE client_id = :c"), {"c": cid})
    return Probe("mutation($d: ID!) { reviewDocument(documentId: $d, accept: true) { document { filename }"
                 " errors { code } } }", {"d": str(doc)}, secrets=["secret-bill.pdf"])


@case("Mutation.resolveScreeningHit")
async def resolve_hit(env: Env) -> Probe:
    cid = await _owner_client(env)
    async with env.session_factory() as s:
        hit = await s.scalar(text("SELECT id FROM screening_results WHERE client_id = :c"), {"c": cid})
    return Probe("mutation($r: ID!) { resolveScreeningHit(resultId: $r, confirmed: true, reason: \"x\") {"
                 " hit { entityCaption } errors { code } } }", {"r": str(hit)}, secrets=["Secret Listed"])


@case("Mutation.setGroupMapping")
async def set_group_mapping(env: Env) -> Probe:
    return Probe("mutation($s: ID!) { setGroupMapping(jurisdiction: \"DE\", accountType: \"standard\","
                 " currency: \"USD\", book: \"B\", riskCategory: \"low\", serverId: $s, groupName: \"real\\\\\\\\x\")"
                 " { ok errors { code } } }", {"s": "1"})


@case("Mutation.requestLeverageChange")
async def request_leverage(env: Env) -> Probe:
    from tests.tenancy.cases_money import _owned_account

    await _owner_client(env)
    _, _, account_id = await _owned_account(env)
    return Probe("mutation($a: ID!) { requestLeverageChange(accountId: $a, leverage: 5) {"
                 " request { id fromLeverage } errors { code } } }", {"a": str(account_id)})


@case("Mutation.decideLeverageChange")
async def decide_leverage(env: Env) -> Probe:
    from domain.clients.models import LeverageRequest
    from tests.tenancy.cases_money import _owned_account

    cid = await _owner_client(env)
    _, _, account_id = await _owned_account(env)
    async with env.session_factory() as s, s.begin():
        row = LeverageRequest(client_id=cid, trading_account_id=account_id, from_leverage=100, to_leverage=377,
                              cap=None, status="pending", auto_approved=False, reason="")
        s.add(row)
        await s.flush()
        request_id = row.id
    return Probe("mutation($i: ID!) { decideLeverageChange(id: $i, approve: true) {"
                 " request { toLeverage } errors { code } } }", {"i": str(request_id)})


@case("Mutation.addSalesRule")
async def add_sales_rule(env: Env) -> Probe:
    return Probe("mutation($u: ID!) { addSalesRule(desk: \"tenancy\", assigneeIds: [$u]) { rule { id }"
                 " errors { code } } }", {"u": str(env.owner_id)})


@case("Query.searchCommunications")
async def search_communications(env: Env) -> Probe:
    """Staff search: the owner's own communications (its verification email) must not reach outsiders.
    A sales user of another desk gets an empty page, which leaks nothing either."""
    async with env.session_factory() as s:
        client_id = await s.scalar(text("SELECT id FROM clients WHERE user_id = :u"), {"u": env.owner_id})
    return Probe("query($c: ID) { searchCommunications(clientId: $c) { nodes { subject body clientId } } }",
                 {"c": str(client_id)}, secrets=[f'"clientId": "{client_id}"'], empty_ok=True)


async def _owner_signal(env: Env) -> int:
    async with env.session_factory() as s, s.begin():
        return int(await s.scalar(text(
            "INSERT INTO payment_signals (user_id, payment_id, kind, details) VALUES (:u, NULL, 'tenancy_kind', "
            "'{\"payer\": \"Secret Payer\"}') RETURNING id"), {"u": env.owner_id}))


@case("Query.paymentSignals")
async def payment_signals(env: Env) -> Probe:
    cid = await _owner_client(env)
    await _owner_signal(env)
    return Probe("query($c: ID!) { paymentSignals(clientId: $c) { nodes { kind details } } }", {"c": str(cid)},
                 secrets=["tenancy_kind", "Secret Payer"], empty_ok=True)


@case("Mutation.reviewPaymentSignal")
async def review_signal(env: Env) -> Probe:
    sid = await _owner_signal(env)
    return Probe("mutation($s: ID!) { reviewPaymentSignal(signalId: $s, decision: DISMISS, note: \"x\") {"
                 " signal { kind details } errors { code } } }", {"s": str(sid)}, secrets=["Secret Payer"])


@case("Mutation.assignClientDesk")
async def assign_desk(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("mutation($c: ID!) { assignClientDesk(clientId: $c, desk: \"elsewhere\") {"
                 " client { name desk } errors { code } } }", {"c": str(cid)}, secrets=["Ownerclient"])


@case("Mutation.documentViewLink")
async def document_link(env: Env) -> Probe:
    cid = await _owner_client(env)
    async with env.session_factory() as s:
        doc = await s.scalar(text("SELECT id FROM client_documents WHERE client_id = :c"), {"c": cid})
    return Probe("mutation($d: ID!) { documentViewLink(documentId: $d) { link { url } errors { code } } }",
                 {"d": str(doc)}, secrets=["/documents/"])


@case("Mutation.openClientProfileChanges")
async def open_profile_changes(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("mutation($c: ID!) { openClientProfileChanges(clientId: $c) { changes { actorUserId } "
                 "hasMore errors { code } } }", {"c": str(cid)}, secrets=["Ownerclient"])
