"""Recall and false positives of the matcher on real names (kept in data/eval with their sources).

- The list: OFAC's SDN list as published on 2024-05-03 (US Treasury, public domain), 16,000 entities.
- Positives (data/eval/positives.csv): how the press, encyclopaedias and documents write 217 listed people:
  patronymics and second surnames left out, German/French/English romanisations, the name in Cyrillic, Greek
  or Chinese, initials, surname first, compounds joined or split.
- Unlisted (data/eval/unlisted.csv): 660 ordinary names of 22 origins, made of the most common given names and
  surnames of each (Wikipedia's lists of most popular given names and most common surnames), each with a date of
  birth and a nationality as a client gives them. Names that a listed person literally bears (every part of the
  name among one SDN name's parts) are left out: screening must raise those, they are homonyms, not errors.

`python -m domain.compliance.evaluation` prints the figures; tests/compliance and `bench screening` assert them.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from domain.compliance.lists import parse
from domain.compliance.matching import DEFAULT_THRESHOLD, MatchIndex, Query, parts

DATA = Path(__file__).parent / "data" / "eval"
SDN = DATA / "ofac_sdn_2024-05-03.csv.gz"


@dataclass(frozen=True)
class Positive:
    query: str
    entity_id: str
    kind: str
    source: str


@dataclass(frozen=True)
class Unlisted:
    name: str
    origin: str
    birth_date: date
    country: str


def _rows(path: Path) -> Iterator[dict[str, str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    yield from csv.DictReader(io.StringIO("\n".join(lines)))


def positives() -> list[Positive]:
    return [Positive(r["query"], f"ofac-{r['ofac_id']}", r["kind"], r["source"]) for r in _rows(DATA / "positives.csv")]


def unlisted() -> list[Unlisted]:
    return [Unlisted(r["name"], r["origin"], date.fromisoformat(r["birth_date"]), r["country"])
            for r in _rows(DATA / "unlisted.csv")]


@cache
def sdn_index() -> MatchIndex:
    return MatchIndex.build(parse("ofac", gzip.decompress(SDN.read_bytes())))


@dataclass(frozen=True)
class Figures:
    recall: float
    recall_with_evidence: float
    false_positive_rate: float
    false_positive_rate_names_only: float
    missed: tuple[str, ...]
    false_hits: tuple[str, ...]
    recall_by_kind: dict[str, float]


def measure(index: MatchIndex | None = None, threshold: float = DEFAULT_THRESHOLD) -> Figures:
    """Recall on the positives by name alone and with the listed person's own date of birth; false positives
    on the unlisted names with their date of birth and nationality, and by name alone."""
    index = index or sdn_index()
    by_id = {e.entity_id: e for e in index.entities}
    found: list[bool] = []
    found_evidence: list[bool] = []
    kinds: dict[str, list[bool]] = {}
    missed: list[str] = []
    for p in positives():
        hit = any(m.entity.entity_id == p.entity_id for m in index.search(Query(p.query), threshold=threshold))
        found.append(hit)
        kinds.setdefault(p.kind, []).append(hit)
        if not hit:
            missed.append(f"{p.query} -> {p.entity_id}")
        entity = by_id[p.entity_id]
        dob = next((date.fromisoformat(d) for d in entity.birth_dates if len(d) == 10), None)
        country = entity.countries[0] if entity.countries else None
        found_evidence.append(any(m.entity.entity_id == p.entity_id for m in index.search(
            Query(p.query, dob, country), threshold=threshold)))
    false_hits: list[str] = []
    names_only = 0
    people = unlisted()
    for u in people:
        matches = index.search(Query(u.name, u.birth_date, u.country), threshold=threshold)
        if matches:
            false_hits.append(f"{u.name} ~ {matches[0].matched_name} ({matches[0].score})")
        names_only += bool(index.search(Query(u.name), threshold=threshold))
    return Figures(
        recall=round(sum(found) / len(found), 4), recall_with_evidence=round(sum(found_evidence) / len(found), 4),
        false_positive_rate=round(len(false_hits) / len(people), 4),
        false_positive_rate_names_only=round(names_only / len(people), 4),
        missed=tuple(missed), false_hits=tuple(false_hits),
        recall_by_kind={k: round(sum(v) / len(v), 4) for k, v in sorted(kinds.items())})


def literal_homonym(index: MatchIndex, name: str) -> bool:
    """Every part of the name is a part of one listed name, as written (no fuzziness)."""
    wanted = {p.text for p in parts(name)}
    return any(wanted <= {p.text for p in alias} for alias in index._aliases)


def main() -> None:
    figures = measure()
    print(f"recall {figures.recall} (with date of birth {figures.recall_with_evidence}), "
          f"false positives {figures.false_positive_rate} (names only {figures.false_positive_rate_names_only})")
    print("by kind", figures.recall_by_kind)
    for line in figures.missed:
        print("missed", line)
    for line in figures.false_hits:
        print("false hit", line)


if __name__ == "__main__":
    main()
