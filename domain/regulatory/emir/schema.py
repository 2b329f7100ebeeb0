"""ESMA's EMIR REFIT schemas, kept byte for byte as published in domain/regulatory/data/emir-refit/ (see
../shared/reference/xsd/README.md for their provenance): the trade report `auth.030.001.03_ESMAUG_DATTAR_1.1.0`
(SHA-256 cdff94d4...fd06a7a) and the ESMA-restricted business application header `head.001.001.01`.
Each is compiled on its own (the two head.001 variants share a namespace and must not meet)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

DATA = Path(__file__).resolve().parents[1] / "data" / "emir-refit"
REPORT_XSD = DATA / "auth.030.001.03_ESMAUG_DATTAR_1.1.0.xsd"
HEADER_XSD = DATA / "head.001.001.01_ESMA_restricted.xsd"
XS = "http://www.w3.org/2001/XMLSchema"


@lru_cache(maxsize=1)
def report_schema() -> etree.XMLSchema:
    """Compiled once per process (about 0.5 s)."""
    return etree.XMLSchema(etree.parse(str(REPORT_XSD)))


@lru_cache(maxsize=1)
def header_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(HEADER_XSD)))
