"""The goAML 5.0.2 XSD (the UAE FIU's build, kept byte for byte as published in
domain/compliance/data/goaml/, SHA-256 5897f7bc...0652a65) compiled for lxml.

The FIU validates with .NET, which reads the schema's patterns as ECMAScript; XSD 1.0 regexes (libxml2)
read them otherwise, so the pristine file rejects ordinary documents. Two patches, applied to the parsed
tree at load time (the file itself stays as the FIU ships it):

- 26 name patterns `^[a-zA-Z0-9 .'-]*$`: in XSD `^` and `$` are literal characters (every pattern is
  anchored already), so `Sara` fails; the anchors are dropped.
- the e-mail pattern `[_a-zA-Z0-9-+]...`: `9-+` reads as a range in XSD, which rejects `a-b@ex-ample.com`;
  the `-` moves to the end of each class.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from lxml import etree

XSD_PATH = Path(__file__).resolve().parents[2] / "data" / "goaml" / "goAMLSchema-5.0.2.xsd"
XS = "http://www.w3.org/2001/XMLSchema"
_CLASS = re.compile(r"\[([^\]]*)\]")


def _class_dash_last(body: str) -> str:
    """A character class with each literal `-` written last (`_a-zA-Z0-9-+` -> `_a-zA-Z0-9+-`): a dash
    stays a range only between two range ends (a letter or digit on each side)."""
    out, dashes, i = [], 0, 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            if body[i + 1] == "-":
                dashes += 1
            else:
                out.append(body[i:i + 2])
            i += 2
            continue
        if c == "-":
            prev, nxt = body[i - 1] if i else "", body[i + 1] if i + 1 < len(body) else ""
            if prev.isalnum() and nxt.isalnum():
                out.append(c)
            else:
                dashes += 1
            i += 1
            continue
        out.append(c)
        i += 1
    text = "".join(out)
    return text + ("-" if dashes else "")


def patch_pattern(value: str) -> str:
    """One pattern as XSD 1.0 reads what the FIU meant (anchors dropped, literal dashes last)."""
    if value.startswith("^") and value.endswith("$"):
        value = value[1:-1]
    return _CLASS.sub(lambda m: "[" + _class_dash_last(m.group(1)) + "]", value)


def patched_tree() -> etree._ElementTree:
    tree = etree.parse(str(XSD_PATH))
    for facet in tree.iter(f"{{{XS}}}pattern"):
        facet.set("value", patch_pattern(facet.get("value", "")))
    return tree


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    """Compiled once per process (about 0.1 s)."""
    return etree.XMLSchema(patched_tree())


@lru_cache(maxsize=8)
def enumeration(type_name: str) -> frozenset[str]:
    """The values a simple type of the schema allows (report indicators, currencies, countries)."""
    tree = etree.parse(str(XSD_PATH))
    found = tree.xpath("/xs:schema/xs:simpleType[@name=$n]/xs:restriction/xs:enumeration/@value",
                       namespaces={"xs": XS}, n=type_name)
    return frozenset(str(v) for v in found)
