"""`forexcrm schema-check`: a breaking change needs a changelog row, a deprecation a removal date."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api import schema_evolution as evolution
from api.cli import app

RELEASED = """
type Query { wallet(id: ID!): Wallet  status: Status! }
type Wallet { id: ID!  balance: String!  currency: String! }
enum Status { OPEN CLOSED }
"""
HEADER = ("| coordinate | change | deprecated on | removal on | note |\n"
          "|---|---|---|---|---|\n")


def _project(tmp_path: Path, current: str, rows: str = "") -> Path:
    (tmp_path / "schema").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "schema" / "released.graphql").write_text(RELEASED)
    (tmp_path / "schema.graphql").write_text(current)
    (tmp_path / "docs" / "SCHEMA_CHANGELOG.md").write_text("# Schema changelog\n\n" + HEADER + rows)
    return tmp_path


def _run(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["schema-check", *args])
    return result.exit_code, " ".join(result.output.split())


def test_a_breaking_change_not_in_the_changelog_fails_naming_its_coordinate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a field removed from a released type and no changelog row
    current = RELEASED.replace("currency: String! }", "}")
    # when the check runs
    code, output = _run(_project(tmp_path, current), monkeypatch)
    # then it fails and names the coordinate
    assert code == 2
    assert "Wallet.currency" in output and "1 breaking change(s)" in output


def test_a_breaking_change_listed_in_the_changelog_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current = RELEASED.replace("currency: String! }", "}")
    rows = "| `Wallet.currency` | removed | 2026-11-01 | 2026-12-01 | read `Money.currency` |\n"
    code, output = _run(_project(tmp_path, current, rows), monkeypatch)
    assert code == 0, output
    assert "breaking, in the changelog: Field Wallet.currency was removed." in output


def test_a_row_for_another_coordinate_does_not_cover_a_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current = RELEASED.replace("currency: String! }", "}")
    rows = "| Wallet.balance | removed | 2026-11-01 | 2026-12-01 | |\n"
    code, output = _run(_project(tmp_path, current, rows), monkeypatch)
    assert code == 2 and "Wallet.currency" in output


def test_a_deprecation_without_a_removal_date_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current = RELEASED.replace("balance: String!", 'balance: String! @deprecated(reason: "Use `amount`.")')
    code, output = _run(_project(tmp_path, current), monkeypatch)
    assert code == 2
    assert "Wallet.balance" in output and "1 undated deprecation(s)" in output


def test_a_deprecation_without_any_reason_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current = RELEASED.replace("CLOSED }", "CLOSED @deprecated }")
    code, output = _run(_project(tmp_path, current), monkeypatch)
    assert code == 2 and "Status.CLOSED" in output


def test_a_deprecation_naming_its_removal_date_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current = RELEASED.replace(
        "balance: String!", 'balance: String! @deprecated(reason: "Use `amount`. Removal on 2027-03-01.")')
    code, output = _run(_project(tmp_path, current), monkeypatch)
    assert code == 0, output


def test_dangerous_changes_are_reported_but_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current = RELEASED.replace("OPEN CLOSED", "OPEN CLOSED FROZEN")
    code, output = _run(_project(tmp_path, current), monkeypatch)
    assert code == 0
    assert "dangerous: Enum value Status.FROZEN was added." in output


def test_release_records_the_current_schema_only_when_it_passes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current = RELEASED.replace("currency: String! }", "}")
    project = _project(tmp_path, current)
    # a failing check releases nothing
    code, _ = _run(project, monkeypatch, "--release")
    assert code == 2 and (project / "schema" / "released.graphql").read_text() == RELEASED
    # once the change is listed, --release makes the current schema the released one
    (project / "docs" / "SCHEMA_CHANGELOG.md").write_text(
        HEADER + "| Wallet.currency | removed | 2026-11-01 | 2026-12-01 | |\n")
    code, _ = _run(project, monkeypatch, "--release")
    assert code == 0 and (project / "schema" / "released.graphql").read_text() == current
    assert _run(project, monkeypatch)[0] == 0


@pytest.mark.parametrize("row, problem", [
    ("| Wallet.currency | removed | 2026-13-01 | 2026-12-01 | |\n", "dates are YYYY-MM-DD"),
    ("| Wallet.currency | removed | 2026-12-01 | 2026-11-01 | |\n", "removed before it is deprecated"),
    ("| Wallet.currency | removed | 2026-11-01 | 2026-12-01 |\n", "five cells"),
])
def test_a_malformed_changelog_row_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              row: str, problem: str) -> None:
    code, output = _run(_project(tmp_path, RELEASED, row), monkeypatch)
    assert code == 2 and problem in output


@pytest.mark.parametrize("released, current, expected", [
    ("type Query { a(x: Int): Int }", "type Query { a: Int }", "Query.a(x:)"),
    ("type Query { a(x: Int): Int }", "type Query { a(x: String): Int }", "Query.a(x:)"),
    ("type Query { a: Int }", "type Query { a(x: Int!): Int }", "Query.a(x:)"),
    ("type Query { a(i: I): Int } input I { b: Int }", "type Query { a(i: I): Int } input I { b: Int c: Int! }",
     "I.c"),
    ("type Query { a: E } enum E { X Y }", "type Query { a: E } enum E { X }", "E.Y"),
    ("type Query { a: U } union U = A | B type A { a: Int } type B { b: Int }",
     "type Query { a: U } union U = A type A { a: Int } type B { b: Int }", "U"),
    ("type Query { a: Int } type B { b: Int }", "type Query { a: Int }", "B"),
    ("type Query { a: Int } interface N { id: ID } type T implements N { id: ID }",
     "type Query { a: Int } interface N { id: ID } type T { id: ID }", "T"),
    ("directive @d(x: Int) on FIELD type Query { a: Int }", "directive @d on FIELD type Query { a: Int }", "@d(x:)"),
    ("directive @d on FIELD type Query { a: Int }", "type Query { a: Int }", "@d"),
])
def test_each_kind_of_breaking_change_is_named_by_its_schema_coordinate(released: str, current: str,
                                                                        expected: str) -> None:
    report = evolution.check(released, current, HEADER)
    assert [evolution.coordinate(change) for change in report.unlisted] == [expected]


def test_the_repository_schema_passes_against_the_released_one() -> None:
    root = Path(__file__).resolve().parents[2]
    report = evolution.check((root / evolution.RELEASED).read_text(), (root / evolution.CURRENT).read_text(),
                             (root / evolution.CHANGELOG).read_text())
    assert report.ok, [c.description for c in report.unlisted] + report.undated_deprecations
