"""Request logging is off unless asked for (FOREXCRM_ACCESS_LOG / --access-log)."""

from __future__ import annotations

import logging

from api.http_protocol import uvicorn_options
from domain.shared.settings import Settings
from infra.logging import configure_logging


def test_access_log_is_off_by_default_and_on_when_asked() -> None:
    quiet = Settings()
    assert quiet.access_log is False and uvicorn_options(quiet)["access_log"] is False
    try:
        configure_logging("INFO", True, 2000, quiet.access_log)
        assert not logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO)
        loud = Settings(access_log=True)
        assert uvicorn_options(loud)["access_log"] is True
        configure_logging("INFO", True, 2000, loud.access_log)
        assert logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO)
    finally:
        configure_logging("INFO", True, 2000)
