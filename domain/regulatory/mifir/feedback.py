"""The competent authority's feedback on our MiFIR files (`auth.031.001.01` status advice): validated against
ESMA's XSD, matched to the file by its message id (MsgRptIdr = our BizMsgIdr), each record's status
(accepted / rejected with its validation rule codes) set on its transaction row; the file's status follows
the message status (ACPT -> accepted, RJCT or PART -> rejected: staff then build the corrections).

A feedback file is bounded (one answer per file of at most writer.PART_SIZE reports), so it is parsed whole.
Bad XML, a schema failure or a message we never sent marks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.regulatory.errors import FeedbackUnmatched, MifirInvalid
from domain.regulatory.mifir.schema import feedback_schema
from domain.shared.actor import Actor
from domain.shared.xsd import MAX_MESSAGE, validate_tree

NS = {"a": "urn:iso:std:iso:20022:tech:xsd:auth.031.001.01"}
MAX_BYTES = 50_000_000
FILE_STATUS = {"ACPT": "accepted", "RJCT": "rejected", "PART": "rejected"}
RECORD_STATUS = {"ACPT": "accepted", "RJCT": "rejected"}


@dataclass
class FeedbackResult:
    file_ids: list[int] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    unknown: list[str] = field(default_factory=list)  # record ids the file does not hold (reported, not fatal)


def parse(data: bytes) -> etree._Element:
    if len(data) > MAX_BYTES:
        raise MifirInvalid("the feedback file is larger than 50 MB", field="xml")
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as failure:
        raise MifirInvalid(str(failure)[:MAX_MESSAGE], field="xml") from None
    validate_tree(feedback_schema(), root, MifirInvalid)
    return root


async def apply(session: AsyncSession, actor: Actor, data: bytes) -> FeedbackResult:
    root = parse(data)
    result = FeedbackResult()
    advices = root.findall("a:FinInstrmRptgStsAdvc/a:StsAdvc", NS)
    targets: list[tuple[int, etree._Element]] = []
    for advice in advices:  # match all first: one unknown message marks nothing
        message_id = advice.findtext("a:MsgRptIdr", default="", namespaces=NS).strip()
        file_id = await session.scalar(text(
            "SELECT id FROM regulatory_report_files WHERE message_id = :m AND regime = 'mifir' FOR UPDATE"),
            {"m": message_id})
        if file_id is None:
            raise FeedbackUnmatched(f"no MiFIR file was sent with message id {message_id!r}", field="xml")
        targets.append((int(file_id), advice))
    for file_id, advice in targets:
        status = advice.findtext("a:MsgSts/a:Sts", default="", namespaces=NS)
        rules = [r.findtext("a:Id", default="", namespaces=NS) for r in advice.findall("a:MsgSts/a:VldtnRule", NS)]
        file_status = FILE_STATUS.get(status)
        if file_status:
            await session.execute(text(
                "UPDATE regulatory_report_files SET status = :s, status_note = :n, status_at = now() "
                "WHERE id = :i AND status <> 'superseded'"),
                {"s": file_status, "n": f"{status} {' '.join(rules)}".strip()[:2000], "i": file_id})
        refs, states, codes = [], [], []
        for record in advice.findall("a:RcrdSts", NS):
            state = RECORD_STATUS.get(record.findtext("a:Sts", default="", namespaces=NS))
            if state is None:  # PDNG, RCVD: nothing decided yet
                continue
            refs.append(record.findtext("a:OrgnlRcrdId", default="", namespaces=NS).strip())
            states.append(state)
            codes.append(",".join(r.findtext("a:Id", default="", namespaces=NS)
                                  for r in record.findall("a:VldtnRule", NS)))
        if refs:
            marked = [r.tx_ref for r in await session.execute(text(
                "UPDATE regulatory_mifir_transactions t SET status = u.state, feedback_at = now(), "
                "error_codes = CASE WHEN u.codes = '' THEN '{}'::text[] ELSE string_to_array(u.codes, ',') END "
                "FROM unnest(CAST(:refs AS text[]), CAST(:states AS text[]), CAST(:codes AS text[])) "
                "AS u(ref, state, codes) WHERE t.file_id = :f AND t.tx_ref = u.ref RETURNING t.tx_ref"),
                {"refs": refs, "states": states, "codes": codes, "f": file_id})]
            seen = set(marked)
            result.unknown.extend(r for r in refs if r not in seen)
            for ref, state in zip(refs, states, strict=True):
                if ref in seen:
                    if state == "accepted":
                        result.accepted += 1
                    else:
                        result.rejected += 1
        # The records a status advice does not name take the message's status: ACPT or PART lists the rejected
        # records only (the rest were accepted); RJCT refuses the whole file (its rules apply to every record).
        rest = {"ACPT": "accepted", "PART": "accepted", "RJCT": "rejected"}.get(status)
        if rest is not None:
            done = await session.execute(text(
                "UPDATE regulatory_mifir_transactions SET status = :s, feedback_at = now(), "
                "error_codes = CAST(:c AS text[]) WHERE file_id = :f AND status = 'built' AND NOT (tx_ref = ANY(:r))"),
                {"s": rest, "c": rules if rest == "rejected" else [], "f": file_id, "r": refs})
            if rest == "accepted":
                result.accepted += done.rowcount  # type: ignore[attr-defined]
            else:
                result.rejected += done.rowcount  # type: ignore[attr-defined]
        result.file_ids.append(file_id)
    await audit.record(session, actor, action="regulatory.mifir_feedback_applied", entity_type="regulatory_report_file",
                       entity_id=",".join(str(f) for f, _ in targets) or "-",
                       after={"accepted": result.accepted, "rejected": result.rejected,
                              "unknown": result.unknown[:50]}, category="compliance")
    return result
