"""Name matching for sanctions/PEP screening, in the manner of OpenSanctions' name matcher (nomenklatura's
logic-v2): names are split into parts with roles, the parts of a query and of a listed name are aligned
pairwise, and the score is the weighted share of the name that aligned.

- Parts: any script is transliterated to ASCII (anyascii: Cyrillic, Greek, Arabic, CJK...), lower-cased, split
  on punctuation; honorifics and legal forms are dropped, particles ("al", "bin", "de", "van") are dropped with
  the name after "bin"/"ibn" marked as a patronymic; "abu"/"abd"/"abdul" join the next part ("Abu Bakr").
- Roles: a patronymic (Vladimirovich, Ivanovna, Aliaksandravich) or an initial on the listed side may be
  missing from the query at almost no cost; another unmatched part (a middle name, a second surname) costs a
  fraction of a matched one, more when the query has it and the list does not.
- Part comparison: equal, then equal phonetic keys (romanisation variants folded: Yevgeny/Jewgeni/Evgueni,
  Kadyrov/Kadyrow, Hassan/Hasan), then equal given-name variants (Aleksandr/Alexander/Oleksandr,
  Mohammed/Muhammad; data/name_variants.txt), then a bounded edit distance on the keys (rapidfuzz's OSA: a
  transposition is one edit; Prigozhin/Prigoschin/Prigojine), then initials. Adjacent parts may align
  joined ("Kim Jongun" ~ "Kim Jong Un").
- Weights: each part counts by its rarity among the list's names (a part that hundreds of listed names share
  says less than one that only this name has).
- Evidence: a date of birth or nationality that agrees raises the score; one that contradicts lowers it.

Candidates are found through an inverted index of part keys (exact and within the edit bound, through
rapidfuzz over the list's vocabulary), then aligned one by one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

from anyascii import anyascii
from rapidfuzz import process
from rapidfuzz.distance import OSA

MATCHER_VERSION = "parts-2"
DEFAULT_THRESHOLD = 0.80
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_GREEK_OU = re.compile(r"[οΟ][υύΥ]")  # Greek ου is u (Πούτιν), which anyascii writes oy
_APOSTROPHES = re.compile(r"['`\u2019]")  # a soft sign (El'vira) or an elision is not a word break
# Honorifics, titles and legal forms carry no identity.
_DROPPED = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "sir", "prof", "sheikh", "sheik", "shaykh", "ayatollah", "imam", "mullah",
    "haji", "hajji", "the", "ltd", "llc", "inc", "plc", "gmbh", "sa", "ag", "co", "corp", "limited", "jsc",
    "ooo", "oao", "pjsc", "ojsc",
})
# Particles: dropped as parts; after "bin"/"ibn" the next part is a father's name.
_PARTICLES = frozenset({"al", "el", "ul", "ad", "ar", "as", "ash", "at", "az", "de", "da", "do", "dos", "das", "del",
                        "della", "di", "du", "van", "von", "der", "den", "la", "le"})
_FATHER = frozenset({"bin", "ibn", "bint", "ben", "ould"})
_JOIN_NEXT = frozenset({"abu", "abd", "abdul", "abdel", "abdol", "abdal", "abou"})
_PATRONYMIC = re.compile(r"(?:ovich|evich|ivich|avich|ovych|evych|yovych|ovna|evna|ivna|avna|ichna|ogly|kyzy)$")

# Weight of a part left unmatched, by side and role.
_EXTRA_LISTED = {"patronymic": 0.08, "initial": 0.08, "name": 0.2}
_EXTRA_QUERY = {"patronymic": 0.15, "initial": 0.1, "name": 0.6}
_INITIAL_WEIGHT = 0.4  # an initial that agrees counts for less than a whole part
_MIN_PART_SCORE = 0.72


# Romanisation variants folded into one phonetic key, in order (German, French, English, Polish renderings of
# Cyrillic and Arabic sounds; doubled letters; y/j/i; final silent e).
_FOLDS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"tsch", "ch"), (r"dsch", "j"), (r"sch", "sh"), (r"tch", "ch"), (r"dzh", "j"), (r"dz", "j"), (r"dj", "j"),
    (r"zh", "z"), (r"kh", "h"), (r"gh", "g"), (r"ph", "f"), (r"th", "t"), (r"dh", "d"), (r"ck", "k"), (r"x", "ks"),
    (r"q", "k"), (r"w", "v"), (r"tz", "ts"), (r"gu(?=[ei])", "g"), (r"ou", "u"), (r"oo", "u"), (r"ee", "i"),
    (r"[yj]", "i"), (r"(.)\1+", r"\1"), (r"^ie", "e"), (r"ie$", "i"), (r"ei$", "i"), (r"(?<=[^aeiou])e$", ""),
))


def phonetic_key(token: str) -> str:
    key = token
    for pattern, replacement in _FOLDS:
        key = pattern.sub(replacement, key)
    return key or token


@cache
def _variants() -> dict[str, str]:
    """Phonetic key of each given-name spelling -> key of its group's first spelling."""
    table: dict[str, str] = {}
    path = Path(__file__).parent / "data" / "name_variants.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        spellings = [_NON_ALNUM.sub("", anyascii(w).lower()) for w in line.split()]
        canonical = phonetic_key(spellings[0])
        for spelling in spellings:
            table.setdefault(phonetic_key(spelling), canonical)
    return table


@dataclass(frozen=True, slots=True)
class Part:
    text: str  # ASCII form as written
    key: str  # phonetic key
    canon: str  # given-name group (the key when the part belongs to none)
    role: str  # "name", "patronymic" or "initial"


@cache
def _part(text: str, father: bool) -> Part:
    key = phonetic_key(text)
    canon = _variants().get(key, key)
    if len(text) == 1:
        role = "initial"
    elif father or (len(text) > 6 and _PATRONYMIC.search(text)):
        role = "patronymic"
    else:
        role = "name"
    return Part(text, key, canon, role)


def normalise(name: str) -> list[str]:
    """Tokens of a name in a comparable form: ASCII, lower case, no punctuation or honorifics."""
    return [p.text for p in parts(name)]


def parts(name: str) -> list[Part]:
    text = _APOSTROPHES.sub("", anyascii(_GREEK_OU.sub("u", name)))
    tokens = [t for t in _NON_ALNUM.sub(" ", text.lower()).split() if t]
    found: list[Part] = []
    father = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _DROPPED:
            i += 1
            continue
        if token in _FATHER:
            father = bool(found)  # "bin Laden" opening a name is a family name
            i += 1
            continue
        if token in _PARTICLES and i + 1 < len(tokens):
            i += 1
            continue
        if token in _JOIN_NEXT and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            token, i = token + (tokens[i + 2] if nxt in _PARTICLES and i + 2 < len(tokens) else nxt), \
                i + (3 if nxt in _PARTICLES and i + 2 < len(tokens) else 2)
        else:
            i += 1
        found.append(_part(token, father))
        father = False
    if not found and tokens:
        found = [_part(t, False) for t in tokens]
    return found


def part_similarity(a: Part, b: Part) -> float:
    if a.text == b.text:
        return 1.0
    if a.role == "initial" or b.role == "initial":
        return 0.9 if a.text[0] == b.text[0] else 0.0
    if a.key == b.key:
        return 0.97
    if a.canon == b.canon:
        return 0.93
    return _fuzzy(a, b)


def _allowed_edits(length: int) -> int:
    return 0 if length <= 3 else 1 if length <= 6 else 2 if length <= 10 else 3


def _fuzzy(a: Part, b: Part) -> float:
    """Similarity of two parts' keys within an edit bound set by the shorter part as written (a transposition
    is one edit); the first letters agree, or are letters romanisations swap, or one lost its first letter."""
    x, y = a.key, b.key
    allowed = _allowed_edits(min(len(a.text), len(b.text)))
    lost_first = x[1:] == y or y[1:] == x
    short = min(len(a.text), len(b.text)) == 4 and a.text[:2] != b.text[:2] and x[:2] != y[:2][::-1]
    if not allowed or (short and not lost_first):
        return 0.0
    if x[0] != y[0] and x[:2] != y[:2][::-1] and not _near_first(x, y) and not lost_first and allowed < 2:
        return 0.0
    distance = min(OSA.distance(u, v, score_cutoff=allowed) for u in _ch_forms(x) for v in _ch_forms(y))
    if distance > allowed:
        return 0.0
    return 1.0 - 0.75 * distance / max(len(x), len(y))


def _ch_forms(key: str) -> tuple[str, ...]:
    """"ch" is kh in German and Polish (Chamenei), sh in French (Choïgou), ch in English and Spanish."""
    return (key, key.replace("ch", "h"), key.replace("ch", "sh")) if "ch" in key else (key,)


_FIRST_LETTER_SWAPS = frozenset({("s", "z"), ("z", "s"), ("g", "k"), ("k", "g"), ("v", "f"), ("f", "v"),
                                 ("e", "i"), ("i", "e"), ("o", "u"), ("u", "o"), ("a", "e"), ("e", "a"),
                                 ("s", "c"), ("c", "s"), ("c", "k"), ("k", "c"), ("h", "g"), ("g", "h"),
                                 ("c", "h"), ("h", "c")})


def _near_first(a: str, b: str) -> bool:
    """A differing first letter is allowed between letters that romanisations swap (Sacharowa/Zakharova)."""
    return (a[0], b[0]) in _FIRST_LETTER_SWAPS


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


def _spans(items: Sequence[Part]) -> list[tuple[tuple[int, ...], Part]]:
    """Each part, and each two adjacent name parts joined (a compound written apart on one side)."""
    spans: list[tuple[tuple[int, ...], Part]] = [((i,), p) for i, p in enumerate(items)]
    for i in range(len(items) - 1):
        if items[i].role != "initial" and items[i + 1].role != "initial":
            spans.append(((i, i + 1), _part(items[i].text + items[i + 1].text, False)))
            if len(items) == 2:  # "Xia Baolong" written as one word, family name first or last
                spans.append(((i, i + 1), _part(items[i + 1].text + items[i].text, False)))
    return spans


def align(query: Sequence[Part], listed: Sequence[Part], weights: Sequence[float],
          query_weights: Sequence[float]) -> float:
    """The weighted share of the two names that aligns: matched parts count by their similarity and rarity,
    unmatched parts by their role (a listed patronymic missing from the query costs almost nothing)."""
    if not query or not listed:
        return 0.0
    pairs: list[tuple[float, int, tuple[int, ...], tuple[int, ...]]] = []
    listed_spans = _spans(listed)
    for qi, qp in _spans(query):
        for li, lp in listed_spans:
            if len(qi) == 2 and len(li) == 2:
                continue
            s = part_similarity(qp, lp)
            # A compound aligns only when it is spelt alike: "Zhao Min" joined is not "Jazmin".
            if s >= (_MIN_PART_SCORE if len(qi) + len(li) == 2 else 0.93):
                pairs.append((s, len(qi) + len(li), qi, li))
    pairs.sort(key=lambda p: (-p[0], -p[1]))
    used_q: set[int] = set()
    used_l: set[int] = set()
    total = weight = 0.0
    matched_names = matched_initials = 0
    for s, _, qi, li in pairs:
        if used_q.intersection(qi) or used_l.intersection(li):
            continue
        used_q.update(qi)
        used_l.update(li)
        w = sum(weights[j] for j in li)
        if all(query[j].role == "initial" for j in qi):
            w *= _INITIAL_WEIGHT
            matched_initials += 1
        elif all(listed[j].role == "initial" for j in li):
            # The list's initial stands for a name the query spells out: it supports the match, never makes it.
            w *= _INITIAL_WEIGHT
        else:
            matched_names += 1
        total += s * w
        weight += w
    if not matched_names:
        return 0.0
    # Both names have two or more parts: one shared part (a common surname) is not a match.
    if matched_names + matched_initials < 2 and len(query) > 1 and len(listed) > 1:
        return 0.0
    for j, p in enumerate(listed):
        if j not in used_l:
            weight += _EXTRA_LISTED[p.role] * weights[j]
    for j, p in enumerate(query):
        if j not in used_q:
            weight += _EXTRA_QUERY[p.role] * query_weights[j]
    return total / weight if weight else 0.0


def _dob_adjustment(query: date | None, known: Sequence[str]) -> float:
    if query is None or not known:
        return 0.0
    full, year = query.isoformat(), str(query.year)
    if any(full.startswith(d) and len(d) >= 7 for d in known):
        return 0.08
    if any(d[:4] == year for d in known):
        return 0.02
    if any(d[:4].isdigit() and abs(int(d[:4]) - query.year) <= 1 for d in known):
        return -0.05
    return -0.2


def _country_adjustment(query: str | None, known: Sequence[str]) -> float:
    if not query or not known:
        return 0.0
    return 0.03 if query.lower() in known else -0.06


@dataclass
class MatchIndex:
    """All aliases of a list's entities, prepared once per list version."""

    entities: list[Entity] = field(default_factory=list)
    _aliases: list[tuple[Part, ...]] = field(default_factory=list)
    _owner: list[int] = field(default_factory=list)
    _vocab: list[str] = field(default_factory=list)
    _vocab_ids: dict[str, int] = field(default_factory=dict)
    _postings: list[list[int]] = field(default_factory=list)
    _df: dict[str, int] = field(default_factory=dict)
    _near: dict[str, list[int]] = field(default_factory=dict)
    # Vocabulary by (first letter, length) and by (second letter, length): the keys a fuzzy part may reach.
    _by_first: dict[tuple[str, int], tuple[list[int], list[str]]] = field(default_factory=dict)
    _by_second: dict[tuple[str, int], tuple[list[int], list[str]]] = field(default_factory=dict)

    @classmethod
    def build(cls, entities: Iterable[Entity], *, rarity_of: MatchIndex | None = None) -> MatchIndex:
        """`rarity_of`: weigh parts by their rarity in that (whole) list's index instead of among these
        entities, so a few entities of a list (a delta) score a name exactly as the whole list would."""
        index = cls()
        for entity in entities:
            index._add(entity)
        if rarity_of is not None:
            index._df = rarity_of._df
        return index

    def _add(self, entity: Entity) -> None:
        position = len(self.entities)
        self.entities.append(entity)
        seen: set[tuple[str, ...]] = set()
        for name in entity.names:
            found = tuple(parts(name))
            texts = tuple(sorted(p.text for p in found))
            if not found or texts in seen:
                continue
            seen.add(texts)
            alias = len(self._aliases)
            self._aliases.append(found)
            self._owner.append(position)
            keys = {p.canon for p in found if p.role != "initial"}
            keys.update(p.canon for _, p in _spans(found) if len(p.text) > 1)
            for key in keys:
                vid = self._vocab_ids.get(key)
                if vid is None:
                    vid = self._vocab_ids[key] = len(self._vocab)
                    self._vocab.append(key)
                    self._postings.append([])
                    for bucket in (self._by_first.setdefault((key[0], len(key)), ([], [])),
                                   self._by_second.setdefault((key[1:2], len(key)), ([], []))):
                        bucket[0].append(vid)
                        bucket[1].append(key)
                self._postings[vid].append(alias)
            for key in {p.canon for p in found}:
                self._df[key] = self._df.get(key, 0) + 1

    def __len__(self) -> int:
        return len(self.entities)

    def weight(self, part: Part) -> float:
        """Rarity of a part among the list's names: 1 for a part no other name has, less the more share it."""
        df = self._df.get(part.canon, 0)
        return 1.0 / (1.0 + 0.25 * math.log2(1 + df)) if df > 1 else 1.0

    def _near_vocab(self, part: Part, fuzzy: bool = True) -> list[int]:
        """Vocabulary entries a part may align with: its key, its name group, and keys within the edit bound
        (a compound, two parts joined, only as spelt: it aligns at 0.93 or more)."""
        cached = self._near.get(part.key) if fuzzy else None
        if cached is not None:
            return cached
        found: set[int] = set()
        exact = self._vocab_ids.get(part.canon)
        if exact is not None:
            found.add(exact)
        if not fuzzy:
            return list(found)
        key = part.key
        allowed = _allowed_edits(len(part.text))
        if allowed:
            firsts = {key[0]} | {b for a, b in _FIRST_LETTER_SWAPS if a == key[0]}
            if len(key) > 1:
                firsts.add(key[1])  # the first two letters transposed, or a letter added in front
            buckets: list[tuple[list[int], list[str]]] = []
            for length in range(max(1, len(key) - allowed - 1), len(key) + allowed + 2):
                buckets.extend(b for first in firsts if (b := self._by_first.get((first, length))))
                if b := self._by_second.get((key[0], length)):  # the first letter lost
                    buckets.append(b)
                if allowed >= 2 and len(key) > 1 and (b := self._by_second.get((key[1], length))):
                    buckets.append(b)  # a long part may differ in its first letter too
            for form in _ch_forms(key):
                for vids, keys in buckets:
                    for _, _, position in process.extract(form, keys, scorer=OSA.distance, limit=None,
                                                          score_cutoff=allowed):
                        found.add(vids[position])
        result = sorted(found)
        if len(self._near) > 200_000:
            self._near.clear()
        self._near[part.key] = result
        return result

    def search(self, query: Query, *, threshold: float = DEFAULT_THRESHOLD, limit: int = 10) -> list[Match]:
        qparts = parts(query.name)
        if not qparts or not self._aliases:
            return []
        names = [p for p in qparts if p.role != "initial"]
        # Which listed names share enough parts with the query to be worth aligning.
        hits: dict[int, int] = {}
        for i, (covered, span) in enumerate(_spans(qparts)):
            if span.role == "initial":
                continue
            reached: set[int] = set()
            for vid in self._near_vocab(span, fuzzy=len(covered) == 1):
                reached.update(self._postings[vid])
            for alias in reached:
                hits[alias] = hits.get(alias, 0) + (2 if i >= len(qparts) else 1)
        need = min(2, len(names)) if len(qparts) > 1 else 1
        qweights = [self.weight(p) for p in qparts]
        best: dict[int, Match] = {}
        for alias, count in hits.items():
            listed = self._aliases[alias]
            if count < min(need, len([p for p in listed if p.role != "initial"]) or 1):
                continue
            name_score = align(qparts, listed, [self.weight(p) for p in listed], qweights)
            if name_score < threshold - 0.2:
                continue
            owner = self._owner[alias]
            entity = self.entities[owner]
            score = name_score + _dob_adjustment(query.birth_date, entity.birth_dates) + _country_adjustment(
                query.country, entity.countries)
            score = min(1.0, max(0.0, score))
            current = best.get(owner)
            if score >= threshold and (current is None or score > current.score):
                best[owner] = Match(entity, round(score, 4), round(name_score, 4),
                                    " ".join(p.text for p in listed))
        return sorted(best.values(), key=lambda m: -m.score)[:limit]
