"""The README's GraphQL stays true: every ```graphql block parses and validates against the
committed schema (operation names, arguments, input fields, enum values, selections)."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import build_schema, parse, validate

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```graphql\n(.*?)```", re.DOTALL)


def _blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text())


def test_the_readme_walks_through_the_lifecycle_in_graphql() -> None:
    operations = " ".join(_blocks())
    for field in ("registerClient", "verifyClientEmail", "updateMyProfile", "startKycVerification",
                  "submitQuestionnaire", "submitApplication", "decideClient", "openMyLiveAccount", "createDeposit",
                  "transferToTradingAccount", "deals", "stepUp", "requestWithdrawal", "approveWithdrawal"):
        assert re.search(rf"\b{field}\b", operations), field


def test_every_readme_graphql_block_validates_against_the_schema() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    blocks = _blocks()
    assert blocks
    for block in blocks:
        errors = validate(schema, parse(block))
        assert not errors, f"{[e.message for e in errors]}\n{block}"
