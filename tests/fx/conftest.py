from tests.ledger.conftest import make_user

__all__ = ["make_user"]
