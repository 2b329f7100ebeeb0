"""Every migration descends from the migrations that create the tables its DDL touches.

Contexts keep their own alembic branches and `upgrade heads` applies them all in an order alembic
picks from the graph alone. A migration that alters, indexes, triggers on or references a table made
on another branch without naming that branch in `down_revision` works only while alembic happens to
pick a lucky order, and breaks a fresh database as soon as another branch merges (0020 altered the
ledger's tables while descending only from the risk branch).
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parents[2]
CREATES = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_0-9]+)", re.IGNORECASE)
# DDL that needs its table to exist when the migration runs (function bodies are resolved later).
TOUCHES = re.compile(
    r"(?:ALTER TABLE(?: ONLY)?(?: IF EXISTS)?|REFERENCES|\bON(?: ONLY)?|TRUNCATE|INSERT INTO|UPDATE)\s+([a-z_0-9]+)",
    re.IGNORECASE,
)


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config)


def _sources(scripts: ScriptDirectory) -> dict[str, str]:
    return {rev.revision: Path(rev.path).read_text() for rev in scripts.walk_revisions()}


def _without_function_bodies(sql: str) -> str:
    return re.sub(r"\$\$.*?\$\$", "", sql, flags=re.DOTALL)


def test_each_migration_descends_from_the_creators_of_the_tables_it_touches() -> None:
    scripts = _scripts()
    sources = _sources(scripts)
    creator: dict[str, str] = {}
    for revision, source in sources.items():
        for table in CREATES.findall(source):
            creator.setdefault(table.lower(), revision)
    missing = []
    for revision, source in sources.items():
        ancestors = {rev.revision for rev in scripts.iterate_revisions(revision, "base")}
        for table in {t.lower() for t in TOUCHES.findall(_without_function_bodies(source))}:
            made_by = creator.get(table)
            if made_by is not None and made_by not in ancestors:
                missing.append(f"{revision} touches {table} (made by {made_by}) without descending from it")
    assert missing == []


def test_the_check_catches_a_migration_on_the_wrong_branch() -> None:
    scripts = _scripts()
    sources = _sources(scripts)
    ledger_tables = set(CREATES.findall(sources["0005_ledger"]))
    risk_ancestors = {rev.revision for rev in scripts.iterate_revisions("0019_risk_order_types", "base")}
    touched = {t.lower() for t in TOUCHES.findall("ALTER TABLE ledger_accounts ADD COLUMN x int")}
    assert touched <= ledger_tables and "0005_ledger" not in risk_ancestors
