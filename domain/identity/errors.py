from __future__ import annotations

from domain.shared.errors import DomainError, declare_codes


class InvalidCredentials(DomainError):
    code = "INVALID_CREDENTIALS"


class WeakPassword(DomainError):
    code = "WEAK_PASSWORD"


class EmailTaken(DomainError):
    code = "EMAIL_TAKEN"


class InvalidEmail(DomainError):
    code = "INVALID_EMAIL"


class TokenInvalid(DomainError):
    code = "TOKEN_INVALID"


class TokenExpired(DomainError):
    code = "TOKEN_EXPIRED"


class SessionEnded(DomainError):
    """An open socket's session was revoked (logout, logout everywhere, password reset, the user
    disabled) while it was open: its subscriptions end with this, then it closes with 4401."""

    code = "SESSION_ENDED"


class RefreshTokenReused(DomainError):
    code = "REFRESH_TOKEN_REUSED"


class SecondFactorRequired(DomainError):
    code = "TOTP_REQUIRED"


class InvalidTotp(DomainError):
    code = "TOTP_INVALID"


class TotpReplay(DomainError):
    code = "TOTP_REPLAYED"


class StepUpRequired(DomainError):
    code = "STEP_UP_REQUIRED"


class AccountDisabled(DomainError):
    code = "ACCOUNT_DISABLED"


declare_codes("TOTP_ALREADY_ENABLED", "TOTP_NOT_ENABLED", "UNKNOWN_PERMISSION", "ROLE_EXISTS", "BUILTIN_ROLE",
              "SESSION_NOT_FOUND", "PASSWORD_LOGIN_DISABLED", "INVALID_SCOPE", "MFA_ENROLLMENT_REQUIRED",
              "SCOPE_NOT_ALLOWED")
