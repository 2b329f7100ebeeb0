"""ESMA's MiFIR schemas, kept byte for byte as published in domain/regulatory/data/mifir/ (provenance in
../shared/reference/xsd/README.md §2): the transaction report `auth.016.001.01_ESMAUG_Reporting_1.1.0`, the
NCA's status advice `auth.031.001.01_ESMAUG_Reporting_1.1.0` and ESMA's MiFIR business application header
`head.001.001.01_ESMAUG_1.0.0`. Each compiled on its own, once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

DATA = Path(__file__).resolve().parents[1] / "data" / "mifir"
REPORT_XSD = DATA / "auth.016.001.01_ESMAUG_Reporting_1.1.0.xsd"
FEEDBACK_XSD = DATA / "auth.031.001.01_ESMAUG_Reporting_1.1.0.xsd"
HEADER_XSD = DATA / "head.001.001.01_ESMAUG_1.0.0.xsd"


@lru_cache(maxsize=1)
def report_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(REPORT_XSD)))


@lru_cache(maxsize=1)
def feedback_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(FEEDBACK_XSD)))


@lru_cache(maxsize=1)
def header_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(HEADER_XSD)))
