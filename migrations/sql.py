"""Run a multi-statement SQL script through asyncpg (which prepares one statement at a time)."""

from __future__ import annotations

from alembic import op


def split_statements(script: str) -> list[str]:
    """Split on `;` outside dollar-quoted bodies and string literals."""
    statements: list[str] = []
    current: list[str] = []
    in_dollar = False
    in_quote = False
    i = 0
    while i < len(script):
        ch = script[i]
        if not in_quote and script.startswith("$$", i):
            in_dollar = not in_dollar
            current.append("$$")
            i += 2
            continue
        if not in_dollar and not in_quote and script.startswith("--", i):
            end = script.find("\n", i)
            i = len(script) if end == -1 else end  # comments may contain ';'
            continue
        if not in_dollar and ch == "'":
            in_quote = not in_quote
        if ch == ";" and not in_dollar and not in_quote:
            stmt = "".join(current).strip()
            if stmt:
                statements.append(stmt)
            current = []
        else:
            current.append(ch)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def run_sql(script: str) -> None:
    for statement in split_statements(script):
        lines = [ln for ln in statement.splitlines() if ln.strip() and not ln.strip().startswith("--")]
        if lines:
            op.execute(statement)
