"""Name matching for sanctions/PEP screening, robust to transliteration, word order, diacritics
and typos, with date of birth and country as supporting features.

Names are transliterated to ASCII (anyascii: Cyrillic, Arabic, CJK...), lower-cased and stripped
of punctuation. Two C++ prefilters (rapidfuzz) over every alias pick candidates: one on sorted
tokens (word order), one on the name as written (a typo in a first letter changes the sorted
order). Candidates are re-ranked by aligning tokens pairwise, so "Putin Vladimir" and "Wladimir
Putin" score close to 1 while a shared surname alone does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from anyascii import anyascii
from rapidfuzz import fuzz, process

MATCHER_VERSION = "align-1"
DEFAULT_THRESHOLD = 0.85
_PREFILTER_LIMIT = 40
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Honorifics and legal forms carry no identity.
_STOPWORDS = frozenset({"mr", "mrs", "ms", "dr", "sir", "the", "ltd", "llc", "inc", "plc", "gmbh", "sa", "ag",
                        "co", "corp", "limited", "bin", "ibn", "al", "el"})


def normalise(name: str) -> list[str]:
    """Tokens of a name in a comparable form: ASCII, lower case, no punctuation or honorifics."""
    text = _NON_ALNUM.sub(" ", anyascii(name).lower())
    tokens = [t for t in text.split() if t]
    kept = [t for t in tokens if t not in _STOPWORDS]
    return kept or tokens


@dataclass(frozen=True)
class Entity:
    entity_id: str
    caption: str
    names: tuple[str, ...]
    birth_dates: tuple[str, ...] = ()  # ISO prefixes: "1961", "1961-07", "1961-07-04"
    countries: tuple[str, ...] = ()  # ISO alpha-2, lower case
    topics: tuple[str, ...] = ()
    schema: str = "Person"


@dataclass(frozen=True)
class Query:
    name: str
    birth_date: date | None = None
    country: str | None = None  # ISO alpha-2


@dataclass(frozen=True)
class Match:
    entity: Entity
    score: float
    name_score: float
    matched_name: str


def _token_alignment(query: Sequence[str], candidate: Sequence[str]) -> float:
    """Each query token's best partner among the candidate's tokens, weighted by length; tokens the
    candidate has and the query lacks (a middle name) cost a little, never everything."""
    if not query or not candidate:
        return 0.0
    used: set[int] = set()
    total = 0.0
    weight = 0
    for token in sorted(query, key=len, reverse=True):
        best, best_j = 0.0, -1
        for j, other in enumerate(candidate):
            if j in used:
                continue
            s = fuzz.ratio(token, other) / 100.0
            if s > best:
                best, best_j = s, j
        if best_j >= 0:
            used.add(best_j)
        total += best * len(token)
        weight += len(token)
    score = total / weight
    missing = len(candidate) - len(used)
    return max(0.0, score - 0.04 * missing)


def _dob_adjustment(query: date | None, known: Sequence[str]) -> float:
    if query is None or not known:
        return 0.0
    full, year = query.isoformat(), str(query.year)
    if any(full.startswith(d) for d in known):
        return 0.05
    if any(d[:4] == year for d in known):
        return 0.0
    return -0.15


def _country_adjustment(query: str | None, known: Sequence[str]) -> float:
    if not query or not known:
        return 0.0
    return 0.03 if query.lower() in known else -0.05


@dataclass
class MatchIndex:
    """All aliases of a list's entities, prepared once per list version."""

    entities: list[Entity] = field(default_factory=list)
    _sorted: list[str] = field(default_factory=list)
    _plain: list[str] = field(default_factory=list)
    _tokens: list[list[str]] = field(default_factory=list)
    _owner: list[int] = field(default_factory=list)

    @classmethod
    def build(cls, entities: Iterable[Entity]) -> MatchIndex:
        index = cls()
        for entity in entities:
            position = len(index.entities)
            index.entities.append(entity)
            seen: set[str] = set()
            for name in entity.names:
                tokens = normalise(name)
                plain = " ".join(tokens)
                if not plain or plain in seen:
                    continue
                seen.add(plain)
                index._plain.append(plain)
                index._sorted.append(" ".join(sorted(tokens)))
                index._tokens.append(tokens)
                index._owner.append(position)
        return index

    def __len__(self) -> int:
        return len(self.entities)

    def search(self, query: Query, *, threshold: float = DEFAULT_THRESHOLD, limit: int = 10) -> list[Match]:
        tokens = normalise(query.name)
        if not tokens or not self._plain:
            return []
        plain, ordered = " ".join(tokens), " ".join(sorted(tokens))
        candidates: set[int] = set()
        cutoff = 100.0 * max(0.0, threshold - 0.15)
        for choices, text in ((self._sorted, ordered), (self._plain, plain)):
            for _, _, alias in process.extract(text, choices, scorer=fuzz.ratio, processor=None,
                                               limit=_PREFILTER_LIMIT, score_cutoff=cutoff):
                candidates.add(alias)
        best: dict[int, Match] = {}
        for alias in candidates:
            name_score = _token_alignment(tokens, self._tokens[alias])
            entity = self.entities[self._owner[alias]]
            score = name_score + _dob_adjustment(query.birth_date, entity.birth_dates) + _country_adjustment(
                query.country, entity.countries)
            score = min(1.0, max(0.0, score))
            current = best.get(self._owner[alias])
            if score >= threshold and (current is None or score > current.score):
                best[self._owner[alias]] = Match(entity, round(score, 4), round(name_score, 4), self._plain[alias])
        return sorted(best.values(), key=lambda m: -m.score)[:limit]
