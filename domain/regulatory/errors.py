"""Typed errors of regulatory reporting."""

from __future__ import annotations

from domain.shared.errors import Conflict, NotFound, ValidationFailed


class EmirInvalid(ValidationFailed):
    """A built EMIR document does not fit ESMA's XSD (auth.030.001.03 DATTAR 1.1.0, or the head.001 BAH): the
    message is the validator's, the field the element's path. Nothing is stored."""

    code = "EMIR_SCHEMA_INVALID"


class NoRegulatorySettings(Conflict):
    """The brokerage's LEI and reporting settings are not set (setRegulatorySettings)."""

    code = "REGULATORY_SETTINGS_MISSING"


class CounterpartyUnidentified(Conflict):
    """A client with deals to report cannot be identified: a legal entity without an LEI, or a natural person
    without a national identifier and without the name, birth date and nationality the CONCAT code needs."""

    code = "COUNTERPARTY_UNIDENTIFIED"


class ReportFileNotFound(NotFound):
    code = "REPORT_FILE_NOT_FOUND"


class ReportFileWrongStatus(Conflict):
    code = "REPORT_FILE_WRONG_STATUS"


class ReportInstrumentUnknown(Conflict):
    """A deal to report names a symbol its trading server's instrument list does not have (its asset class,
    contract size and currency are unknown): nothing is reported with guessed values."""

    code = "REPORT_INSTRUMENT_UNKNOWN"


class MifirInvalid(ValidationFailed):
    """A built MiFIR document does not fit ESMA's XSD (auth.016.001.01 Reporting 1.1.0, or the head.001 BAH), or
    a feedback file does not fit auth.031.001.01: the message is the validator's, the field the element's path.
    Nothing is stored."""

    code = "MIFIR_SCHEMA_INVALID"


class FeedbackUnmatched(Conflict):
    """A feedback file names a message (MsgRptIdr) we never sent as a MiFIR file: nothing is marked."""

    code = "MIFIR_FEEDBACK_UNMATCHED"


class ReportPriceMissing(Conflict):
    """A position open at a day's close is on a symbol with no price to mark it at: its EMIR valuation would be
    guessed, so nothing is reported (the day is built once the symbol has a price)."""

    code = "REPORT_PRICE_MISSING"
