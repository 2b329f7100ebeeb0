"""The FIU's goAML XSD as lxml reads it: the patch at load time (anchors dropped from the name patterns, literal
dashes last in the e-mail pattern's classes) accepts what the FIU's own validator accepts, and nothing more."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

from domain.compliance.aml.goaml import document as goaml
from domain.compliance.aml.goaml.schema import XS, XSD_PATH, patch_pattern, patched_tree
from domain.compliance.errors import GoamlInvalid


def test_patterns_are_patched_as_the_fiu_means_them() -> None:
    assert patch_pattern("^[a-zA-Z0-9 .'-]*$") == "[a-zA-Z0-9 .'-]*"
    assert patch_pattern(r"[_a-zA-Z0-9-+]+(\.[_a-zA-Z0-9-\+]+)*@[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*(\.[a-zA-Z]{2,15})") \
        == r"[_a-zA-Z0-9+-]+(\.[_a-zA-Z0-9\+-]+)*@[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*(\.[a-zA-Z]{2,15})"
    ip = r"((1?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])\.){3}(1?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])"
    assert patch_pattern(ip) == ip  # nothing to patch: unchanged
    patterns = [p.get("value") for p in patched_tree().iter(f"{{{XS}}}pattern")]
    assert len(patterns) == 29 and not [p for p in patterns if p.startswith("^") or p.endswith("$")]


def _facet(tree: etree._ElementTree, type_name: str, value: str) -> bool:
    """Whether `value` fits the simple type `type_name` of the schema (a one-element schema around it)."""
    wrapper = etree.fromstring(
        f'<xs:schema xmlns:xs="{XS}"><xs:element name="v" type="{type_name}"/></xs:schema>'.encode())
    wrapper.extend(copy.deepcopy(n) for n in tree.xpath("/xs:schema/xs:simpleType[@name = $n]", namespaces={"xs": XS},
                                                            n=type_name))
    return bool(etree.XMLSchema(wrapper).validate(etree.fromstring(f"<v>{value}</v>".encode())))


def test_ordinary_names_and_addresses_fit_only_once_patched() -> None:
    pristine, patched = etree.parse(str(XSD_PATH)), patched_tree()
    assert not _facet(pristine, "email_address", "a-b@ex-ample.com")  # a dash before the @: `9-+` is a range
    for email in ("a-b@ex-ample.com", "anna.georgiou+str@acme-fx.example"):
        assert _facet(patched, "email_address", email)
    for bad in ("no-at-sign.example", "a b@example.com"):
        assert not _facet(patched, "email_address", bad)


def _report(amount: str) -> tuple[Any, Any]:
    entity = goaml.Entity(4711, None, "Acme FX Ltd", "EUR", "CY", "1 Makarios Avenue", "Limassol", "Anna", "Georgiou",
                          None, None)
    client = goaml.Person("Ivan", "Petrov", date(1980, 5, 17), "RU", "CY")
    txn = goaml.Transaction("C1", "1", "deposit", "crypto", "eth", "coinspaid", "succeeded",
                            datetime(2026, 3, 1, tzinfo=UTC), "ETH", Decimal(amount), Decimal("3000.00"),
                            Decimal("2000"), client, "CY")
    return entity, goaml.Report("STR", "FXCRM-STR-1", datetime(2026, 3, 2, tzinfo=UTC), "why", "", ("UNUSU",),
                                client, "CY", (txn,))


def test_a_crypto_amount_is_told_in_the_funds_comment_as_goaml_has_no_code_for_it() -> None:
    document = etree.fromstring(goaml.build_valid(*_report("1.500000000000000000")))
    assert document.findtext("transaction/t_from/from_funds_code") == "CRPTC"
    assert document.findtext("transaction/t_from/from_funds_comment") == \
        "1.500000000000000000 ETH at 2000 EUR per ETH"
    assert document.find("transaction/t_from/from_foreign_currency") is None
    assert document.findtext("transaction/amount_local") == "3000.00"
    with pytest.raises(GoamlInvalid) as refused:  # and nowhere else: the XSD refuses ETH as a currency
        goaml.validate(etree.fromstring(etree.tostring(document).replace(b"<currency_code_local>EUR<",
                                                                          b"<currency_code_local>ETH<")))
    assert refused.value.field == "report/currency_code_local"
