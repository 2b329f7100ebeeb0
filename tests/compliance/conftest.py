"""The payment fixtures (methods, users) the monitoring tests move money with."""

from tests.payments.conftest import configured, make_user, psp  # noqa: F401
