"""MT5 Web API adapter (HTTP/JSON protocol of the MetaTrader 5 trading server)."""

from domain.platforms.mt5.adapter import MT5Platform
from domain.platforms.mt5.client import MT5Credentials, MT5WebAPIClient

__all__ = ["MT5Credentials", "MT5Platform", "MT5WebAPIClient"]
