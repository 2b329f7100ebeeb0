"""The README's table of roles and permissions is the catalogue (domain/identity/permissions.py).

After changing the catalogue or a built-in role, rewrite the table:
    .venv/bin/python -m tests.platform.test_readme_permissions
"""

from __future__ import annotations

import sys
from pathlib import Path

from domain.identity.permissions import BUILTIN_ROLES, PERMISSIONS

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- permissions:start -->", "<!-- permissions:end -->"


def render() -> str:
    roles = list(BUILTIN_ROLES)
    lines = ["| permission | what it allows | " + " | ".join(f"`{r}`" for r in roles) + " |",
             "|---|---|" + "---|" * len(roles)]
    for code, meaning in PERMISSIONS.items():
        marks = " | ".join("✓" if code in BUILTIN_ROLES[r][1] else "" for r in roles)
        lines.append(f"| `{code}` | {meaning} | {marks} |")
    lines.append("")
    lines += [f"- `{name}`: {description}" for name, (description, _) in BUILTIN_ROLES.items()]
    return "\n".join(lines)


def _current_block(text: str) -> str:
    assert START in text and END in text, f"README.md has no {START} ... {END} block"
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def test_readme_lists_every_role_and_permission_as_the_catalogue_does() -> None:
    assert _current_block(README.read_text()) == render(), (
        "README.md's roles table is out of date: run `.venv/bin/python -m tests.platform.test_readme_permissions`")


if __name__ == "__main__":
    text = README.read_text()
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    README.write_text(f"{before}{START}\n{render()}\n{END}{after}")
    sys.stdout.write("README.md: roles and permissions rewritten\n")
