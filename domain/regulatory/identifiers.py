"""Identifiers in regulatory reports: LEIs (ISO 17442) and natural persons' national client identifiers
(MiFIR RTS 22, Article 6 and Annex II), including the CONCAT code.

CONCAT (RTS 22 Art. 6(4) and ESMA's Guidelines on transaction reporting, section 5.4): the two-letter
country code of the person's nationality, the date of birth as YYYYMMDD, the first five characters of the
first name, the first five characters of the surname (20 characters). The names are prepared first:
- only the first of several first names is used;
- titles and prefixes to surnames are removed (the Guidelines' list: am, auf, auf dem, aus der, d, da, de,
  de l', del, de la, de le, di, do, dos, du, im, la, le, mac, mc, mhac, mhic, mhic giolla, mic, ni, nic, o,
  ua, ui, van, van de, van den, van der, vom, von, von dem, von den, von der), where followed by more name;
- accents and diacritics are transliterated to their base letters (ä -> A, ß -> SS, ø -> O, ...);
- apostrophes, hyphens, commas, full stops and spaces are removed; letters are upper-cased;
- a name shorter than five characters is padded with '#'.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

LEI = re.compile(r"[A-Z0-9]{18}[0-9]{2}")
TITLES = frozenset({"ATTY", "COACH", "DAME", "DR", "FR", "GOV", "HONORABLE", "MADAM", "MADAME", "MAID", "MASTER",
                    "MISS", "MONSIEUR", "MR", "MRS", "MS", "MX", "OFC", "PH.D", "PRES", "PROF", "REV", "SIR"})
# Longest first: "van der" before "van".
PREFIXES = tuple(sorted(("am", "auf", "auf dem", "aus der", "d", "da", "de", "de l'", "del", "de la", "de le", "di",
                         "do", "dos", "du", "im", "la", "le", "mac", "mc", "mhac", "mhic", "mhic giolla", "mic",
                         "ni", "nic", "o", "ua", "ui", "van", "van de", "van den", "van der", "vom", "von",
                         "von dem", "von den", "von der"), key=len, reverse=True))
_SPECIAL = {"ß": "SS", "Æ": "AE", "æ": "AE", "Ø": "O", "ø": "O", "Œ": "OE", "œ": "OE", "Ł": "L", "ł": "L",
            "Đ": "D", "đ": "D", "Þ": "TH", "þ": "TH", "ı": "I"}
NATIONAL_ID = re.compile(r"[A-Z0-9+]{1,33}")


def lei_ok(value: str) -> bool:
    """ISO 17442: 18 characters, 2 check digits, the whole read as a number (A=10 ... Z=35) is 1 modulo 97."""
    if not LEI.fullmatch(value):
        return False
    return int("".join(str(int(c, 36)) for c in value)) % 97 == 1


def _ascii(text: str) -> str:
    text = "".join(_SPECIAL.get(c, c) for c in text)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _without_titles(words: list[str]) -> list[str]:
    return [w for w in words if w.upper().rstrip(".") not in TITLES] or words


def _first_name(first: str) -> str:
    words = _without_titles(first.replace(",", " ").split())
    return words[0] if words else ""


def _surname(last: str) -> str:
    name = " ".join(_without_titles(last.replace(",", " ").split()))
    lowered = name.lower()
    for prefix in PREFIXES:
        if lowered.startswith(prefix + " ") or (prefix.endswith("'") and lowered.startswith(prefix)):
            rest = name[len(prefix):].strip()
            if rest:
                return rest
    return name


def _five(name: str) -> str:
    letters = re.sub(r"[\s'’\-,.]", "", _ascii(name)).upper()
    letters = "".join(c for c in letters if c.isalnum())
    return (letters[:5] + "#####")[:5]


def concat(nationality: str, birth_date: date, first_name: str, last_name: str) -> str:
    """The CONCAT national client identifier (20 characters), e.g. FR19680113JOHN#DOE##."""
    return f"{nationality.upper()}{birth_date:%Y%m%d}{_five(_first_name(first_name))}{_five(_surname(last_name))}"
