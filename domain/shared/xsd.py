"""Validating XML against an official XSD with lxml, with typed errors that name the element.

One helper for every regulatory document (goAML STRs, EMIR and MiFIR reports): a failure raises the caller's
error class (a `ValidationFailed` subclass with its own `*_SCHEMA_INVALID` code), one error per XSD message
(at most MAX_ERRORS), each with the element's path as its field (e.g. `report/transaction[2]/t_to/...`).

`validate_tree` checks a document held in memory; `validate_file` checks a file as it is read
(`etree.iterparse(..., schema=...)`: libxml2 validates the SAX stream, and each finished element is cleared,
so memory stays bounded whatever the file's size).
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from domain.shared.errors import DomainError, InvalidFields

MAX_ERRORS = 20
MAX_MESSAGE = 600  # an enumeration facet's message lists every allowed value


def _raise(errors: list[DomainError]) -> None:
    raise errors[0] if len(errors) == 1 else InvalidFields(list(errors))


def _path(element: etree._Element) -> str:
    """`Document/DerivsTradRpt/TradData/Rpt[2]/New/...`: local names (no namespace), a position where an element
    has same-named siblings."""
    parts = []
    node: etree._Element | None = element
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/".join(reversed(parts))


def validate_tree(xsd: etree.XMLSchema, root: etree._Element, error: type[DomainError]) -> None:
    """Raise `error` (one per XSD message, field: the element's path) unless the document fits the schema."""
    if xsd.validate(root):
        return
    tree = root.getroottree()
    errors: list[DomainError] = []
    for entry in list(xsd.error_log)[:MAX_ERRORS]:
        path = None
        if entry.path:
            found = tree.xpath(entry.path)
            path = _path(found[0]) if isinstance(found, list) and found else entry.path
        errors.append(error(entry.message[:MAX_MESSAGE], field=path))
    _raise(errors)


def validate_file(xsd: etree.XMLSchema, path: Path, error: type[DomainError]) -> int:
    """Validate a file while reading it, memory bounded: libxml2 validates the parser's event stream and each
    finished element is dropped at once. Answers the number of elements read. libxml2 does not say where in
    the stream a failure was, so on failure (the rare path) the file is read again as a tree to name each
    element's path (`validate_tree`): callers keep files small enough for that (EMIR parts, writer.PART_SIZE)."""
    count = 0
    try:
        for _event, element in etree.iterparse(str(path), events=("end",), schema=xsd, huge_tree=True):
            count += 1
            element.clear(keep_tail=False)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as failure:
        validate_tree(xsd, etree.parse(str(path), etree.XMLParser(huge_tree=True)).getroot(), error)
        raise error(str(failure)[:MAX_MESSAGE]) from None  # not a schema failure: the XML itself is broken
    return count
