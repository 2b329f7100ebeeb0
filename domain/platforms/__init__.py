"""Trading-platform port, adapters (MT5 Web API) and the MT5-compatible simulator."""
