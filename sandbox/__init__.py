"""Development stand-ins as real servers (trading-server simulator, PSPs, KYC, crypto, FX, OIDC).

Started by `forexcrm run` and used by the tests: one copy of each. Never imported by domain/.
"""
