"""A synthetic sanctions/PEP list in FollowTheMoney entity JSON, generated with a fixed seed, and
query variants of its names (transliteration, word order, diacritics, typos) for measuring recall.

`python -m domain.compliance.synthetic OUT.jsonl --count 50000` writes a list; the committed
sample (domain/compliance/data/sample_ftm.jsonl) is the first entities of the same generator.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from pathlib import Path

import orjson

SYLLABLES = ("ka", "lo", "mi", "ra", "ti", "no", "sa", "ve", "dor", "bek", "lan", "mur", "zan", "gor", "pel",
             "vin", "ash", "iro", "tek", "han", "sul", "mar", "dim", "kov", "rin", "bas", "ol", "ev", "an", "ur")
COUNTRIES = ("ru", "ir", "kp", "sy", "by", "ve", "cu", "mm", "af", "iq", "ly", "sd", "ye", "zw", "ni")
# Latin to Cyrillic, enough that anyascii's way back is not an exact inverse (the matcher must cope).
_CYRILLIC = {"a": "а", "b": "б", "v": "в", "g": "г", "d": "д", "e": "е", "z": "з", "i": "и", "k": "к", "l": "л",
             "m": "м", "n": "н", "o": "о", "p": "п", "r": "р", "s": "с", "t": "т", "u": "у", "h": "х", "sh": "ш"}
_ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "n": "ñ", "c": "ç", "s": "š", "z": "ž"}


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def entities(count: int, seed: int = 20240601) -> Iterator[dict[str, object]]:
    rng = random.Random(seed)
    for i in range(count):
        first, last = _word(rng, rng.randint(2, 3)), _word(rng, rng.randint(2, 4))
        middle = _word(rng, 2) if rng.random() < 0.3 else ""
        name = " ".join(p for p in (first, middle, last) if p)
        props: dict[str, list[str]] = {
            "name": [name], "topics": ["sanction" if rng.random() < 0.7 else "role.pep"],
            "nationality": [rng.choice(COUNTRIES)],
        }
        if rng.random() < 0.8:
            props["birthDate"] = [f"{rng.randint(1940, 2000)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"]
        if rng.random() < 0.3:
            props["alias"] = [f"{last} {first}"]
        yield {"id": f"syn-{i:06d}", "schema": "Person", "caption": name, "properties": props}


def to_cyrillic(name: str) -> str:
    out, i, low = [], 0, name.lower()
    while i < len(low):
        if low.startswith("sh", i):
            out.append(_CYRILLIC["sh"])
            i += 2
            continue
        out.append(_CYRILLIC.get(low[i], low[i]))
        i += 1
    return "".join(out)


def typo(rng: random.Random, name: str) -> str:
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    i = rng.choice(letters[1:]) if len(letters) > 1 else letters[0]
    kind = rng.randrange(3)
    if kind == 0:
        return name[:i] + name[i + 1:]
    if kind == 1:
        return name[:i] + rng.choice("aeiounrst") + name[i + 1:]
    j = min(i + 1, len(name) - 1)
    return name[:i] + name[j] + name[i] + name[j + 1:] if name[j].isalpha() else name


def variants(name: str, rng: random.Random) -> dict[str, str]:
    tokens = name.split()
    return {
        "reordered": " ".join(reversed(tokens)),
        "typo": typo(rng, name),
        "diacritics": "".join(_ACCENTS.get(c, c) if rng.random() < 0.3 else c for c in name),
        "transliterated": to_cyrillic(name),
    }


def write(path: Path, count: int, seed: int = 20240601) -> None:
    with path.open("wb") as out:
        for entity in entities(count, seed):
            out.write(orjson.dumps(entity) + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    write(args.out, args.count, args.seed)


if __name__ == "__main__":
    main()
