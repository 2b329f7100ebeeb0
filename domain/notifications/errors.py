from __future__ import annotations

from domain.shared.errors import DomainError


class InvalidDeviceToken(DomainError):
    """A push token that is empty, too long or not printable ASCII (FCM and APNs tokens are both)."""

    code = "INVALID_DEVICE_TOKEN"


class InvalidLanguage(DomainError):
    code = "INVALID_LANGUAGE"


class InvalidAppVersion(DomainError):
    code = "INVALID_APP_VERSION"


class UnknownNotificationKind(DomainError):
    code = "UNKNOWN_NOTIFICATION_KIND"


class MandatoryNotification(DomainError):
    """A security or regulatory notice: it may not be turned off on any channel."""

    code = "NOTIFICATION_MANDATORY"
