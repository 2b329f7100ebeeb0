"""The appropriateness questionnaire: configurable (a versioned definition), scored into a risk
category that caps leverage (risk-scoped leverage caps) and can block products."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.errors import InvalidAnswers, InvalidConfiguration
from domain.clients.models import Client, Questionnaire, QuestionnaireResponse
from domain.clients.status import Status, require_status
from domain.shared.actor import Actor

ANSWER_STATES = frozenset({Status.PROFILE_COMPLETE, Status.DOCUMENTS_SUBMITTED, Status.MORE_INFO_REQUIRED})

DEFAULT_DEFINITION: dict[str, Any] = {
    "questions": [
        {"id": "experience", "text": "How often have you traded leveraged FX or CFDs in the last three years?",
         "options": [{"id": "never", "text": "Never", "score": 0},
                     {"id": "sometimes", "text": "A few times a year", "score": 2},
                     {"id": "often", "text": "Monthly or more", "score": 4}]},
        {"id": "stop_out", "text": "What happens when your margin level falls below the stop-out level?",
         "options": [{"id": "closed", "text": "Positions are closed automatically", "score": 3},
                     {"id": "nothing", "text": "Nothing", "score": 0},
                     {"id": "unsure", "text": "I do not know", "score": 0}]},
        {"id": "leverage", "text": "At 30:1 leverage, what does a 1% adverse move cost your margin?",
         "options": [{"id": "thirty", "text": "About 30%", "score": 3},
                     {"id": "one", "text": "About 1%", "score": 0},
                     {"id": "unsure", "text": "I do not know", "score": 0}]},
        {"id": "loss_capacity", "text": "Could you afford to lose the money you plan to invest?",
         "options": [{"id": "yes", "text": "Yes", "score": 2}, {"id": "no", "text": "No", "score": 0}]},
    ],
    # Highest band whose minimum the score reaches; inexperienced clients are the high-risk ones.
    "bands": [
        {"min": 0, "category": "high", "blocked": ["crypto", "equity"]},
        {"min": 6, "category": "medium", "blocked": ["crypto"]},
        {"min": 10, "category": "low", "blocked": []},
    ],
}


_SHAPE = "a questionnaire has questions with scored options and bands"


def check_definition(definition: dict[str, Any]) -> None:
    try:
        questions = definition["questions"]
        bands = definition["bands"]
        ok = bool(questions) and bool(bands) and all(
            q["id"] and q["options"] and all(isinstance(o["score"], int) for o in q["options"]) for q in questions
        ) and all(b["category"] in ("low", "medium", "high") and isinstance(b["min"], int) for b in bands)
    except (KeyError, TypeError) as exc:
        raise InvalidConfiguration(_SHAPE, field="definition") from exc
    if not ok:
        raise InvalidConfiguration(_SHAPE, field="definition")


async def active(session: AsyncSession) -> Questionnaire:
    """The active questionnaire; the built-in one is stored as version 1 the first time it is needed."""
    row = await session.scalar(select(Questionnaire).where(Questionnaire.active).order_by(Questionnaire.version.desc()))
    if row is None:
        await session.execute(insert(Questionnaire).values(version=1, definition=DEFAULT_DEFINITION, active=True)
                              .on_conflict_do_nothing(index_elements=[Questionnaire.version]))
        row = await session.scalar(select(Questionnaire).where(Questionnaire.version == 1))
    assert row is not None
    return row


async def publish(session: AsyncSession, actor: Actor, definition: dict[str, Any]) -> Questionnaire:
    check_definition(definition)
    current = await active(session)
    await session.execute(update(Questionnaire).values(active=False))
    row = Questionnaire(version=current.version + 1, definition=definition, active=True)
    session.add(row)
    await session.flush()
    await record(session, actor, action="questionnaire.published", entity_type="questionnaire", entity_id=row.id,
                 after={"version": row.version}, category="general")
    return row


def score(definition: dict[str, Any], answers: dict[str, str]) -> tuple[int, str, list[str]]:
    total = 0
    for question in definition["questions"]:
        chosen = answers.get(question["id"])
        option = next((o for o in question["options"] if o["id"] == chosen), None)
        if option is None:
            raise InvalidAnswers(f"answer question {question['id']!r} with one of its options", field="answers")
        total += int(option["score"])
    extra = set(answers) - {q["id"] for q in definition["questions"]}
    if extra:
        raise InvalidAnswers(f"unknown questions: {', '.join(sorted(extra))}", field="answers")
    band = max((b for b in definition["bands"] if total >= b["min"]), key=lambda b: b["min"])
    return total, str(band["category"]), [str(p) for p in band["blocked"]]


async def submit(session: AsyncSession, actor: Actor, client: Client, answers: dict[str, str]) -> QuestionnaireResponse:
    require_status(client, ANSWER_STATES, "answer the questionnaire")
    questionnaire = await active(session)
    total, category, blocked = score(questionnaire.definition, answers)
    response = QuestionnaireResponse(client_id=client.id, questionnaire_id=questionnaire.id, answers=answers,
                                     score=total, risk_category=category, blocked_products=blocked)
    session.add(response)
    before = {"risk_category": client.risk_category, "blocked_products": client.blocked_products}
    client.risk_category, client.blocked_products = category, blocked
    await session.flush()
    await record(session, actor, action="client.questionnaire_answered", entity_type="client", entity_id=client.id,
                 before=before, after={"risk_category": category, "blocked_products": blocked, "score": total,
                                       "questionnaire_version": questionnaire.version}, category="general")
    return response


async def latest(session: AsyncSession, client_id: int) -> QuestionnaireResponse | None:
    return await session.scalar(select(QuestionnaireResponse).where(QuestionnaireResponse.client_id == client_id)
                                .order_by(QuestionnaireResponse.id.desc()).limit(1))
