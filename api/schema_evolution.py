"""Schema evolution: what `forexcrm schema-check` enforces.

The released schema (schema/released.graphql) is what clients were built against. A change to
schema.graphql that breaks them (graphql-core's `find_breaking_changes`) must have a row in
docs/SCHEMA_CHANGELOG.md naming its schema coordinate, with the dates of its deprecation period;
every `@deprecated` carries a reason that names its removal date.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from graphql import (
    BreakingChange,
    DangerousChange,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)
from graphql.utilities import find_breaking_changes, find_dangerous_changes

RELEASED = Path("schema/released.graphql")
CURRENT = Path("schema.graphql")
CHANGELOG = Path("docs/SCHEMA_CHANGELOG.md")

# A deprecation reason names the day the element goes: "... Removal on 2027-03-01."
_REMOVAL_DATE = re.compile(r"\bremov\w*\b[^.]*?(\d{4}-\d{2}-\d{2})", re.IGNORECASE)
_NAME = r"[_A-Za-z][_0-9A-Za-z]*"
# graphql-core (3.3) names what changed by its schema coordinate
# (https://spec.graphql.org/draft/#sec-Schema-Coordinates) inside each change's description.
_MEMBER = re.compile(rf"@{_NAME}(?:\({_NAME}:\))?|{_NAME}\.{_NAME}(?:\({_NAME}:\))?")
_UNION_MEMBER = re.compile(rf"^{_NAME} was (?:removed from|added to) union type ({_NAME})")
_TYPE = re.compile(rf"^(?:Standard scalar )?({_NAME}) ")


def coordinate(change: BreakingChange | DangerousChange) -> str:
    """The schema coordinate a change is about (`Type`, `Type.field`, `Type.field(arg:)`, `Enum.VALUE`,
    `@directive`, `@directive(arg:)`); a union's member added or removed is the union's."""
    text = change.description
    for found in (_UNION_MEMBER.match(text), _MEMBER.search(text), _TYPE.match(text)):
        if found:
            return found[1] if found.re.groups else found[0]
    return text  # unknown wording: the row must quote the description itself


@dataclass(frozen=True)
class ChangelogRow:
    coordinate: str
    change: str
    deprecated_on: dt.date
    removal_on: dt.date
    note: str


class ChangelogError(ValueError):
    """docs/SCHEMA_CHANGELOG.md has a malformed row."""


def parse_changelog(text: str) -> list[ChangelogRow]:
    """The rows of the changelog's table: `| coordinate | change | deprecated on | removal on | note |`."""
    rows: list[ChangelogRow] = []
    for number, line in enumerate(text.splitlines(), start=1):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if len(cells) < 4 or cells[0].lower() in ("coordinate", "schema coordinate") or set(cells[0]) <= {"-", ":"}:
            continue
        if len(cells) != 5:
            raise ChangelogError(f"line {number}: a row has five cells (coordinate, change, deprecated on, "
                                 f"removal on, note), this one {len(cells)}")
        name, change, deprecated_on, removal_on, note = cells
        try:
            row = ChangelogRow(name.strip("`"), change, dt.date.fromisoformat(deprecated_on),
                               dt.date.fromisoformat(removal_on), note)
        except ValueError as exc:
            raise ChangelogError(f"line {number}: dates are YYYY-MM-DD ({exc})") from exc
        if row.removal_on < row.deprecated_on:
            raise ChangelogError(f"line {number}: {row.coordinate} is removed before it is deprecated")
        rows.append(row)
    return rows


def _deprecations(schema: GraphQLSchema) -> Iterable[tuple[str, str]]:
    """(coordinate, reason) of every deprecated field, argument, input field and enum value."""
    for type_name, named in schema.type_map.items():
        if type_name.startswith("__"):
            continue
        if isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                if value.deprecation_reason is not None:
                    yield f"{type_name}.{value_name}", value.deprecation_reason
        if isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                if input_field.deprecation_reason is not None:
                    yield f"{type_name}.{field_name}", input_field.deprecation_reason
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if field.deprecation_reason is not None:
                    yield f"{type_name}.{field_name}", field.deprecation_reason
                for arg_name, arg in field.args.items():
                    if arg.deprecation_reason is not None:
                        yield f"{type_name}.{field_name}({arg_name}:)", arg.deprecation_reason


@dataclass(frozen=True)
class Report:
    unlisted: list[BreakingChange]  # breaking and without a changelog row: fails
    listed: list[BreakingChange]
    dangerous: list[DangerousChange]  # reported, never fatal (a new enum value, an optional argument)
    undated_deprecations: list[str]  # "coordinate: reason" without a removal date: fails

    @property
    def ok(self) -> bool:
        return not self.unlisted and not self.undated_deprecations


def check(released_sdl: str, current_sdl: str, changelog_text: str) -> Report:
    released, current = build_schema(released_sdl), build_schema(current_sdl)
    documented = {row.coordinate for row in parse_changelog(changelog_text)}
    breaking = find_breaking_changes(released, current)
    return Report(
        unlisted=[c for c in breaking if coordinate(c) not in documented],
        listed=[c for c in breaking if coordinate(c) in documented],
        dangerous=list(find_dangerous_changes(released, current)),
        undated_deprecations=[f"{name}: {reason!r}" for name, reason in _deprecations(current)
                              if not _REMOVAL_DATE.search(reason)],
    )
