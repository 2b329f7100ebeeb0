"""Push (and e-mail) texts per notification kind, in the device's language (en, es; anything else falls back to en),
amounts formatted for that locale (Babel). Only the user's own notification feeds them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.core import UnknownLocaleError
from babel.numbers import format_currency

# kind -> language -> (title, body); the body's {amount} is the locale's currency format, {reference} the payment's.
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "payment.deposit_credited": {
        "en": ("Deposit credited", "Your deposit {reference} of {amount} was credited."),
        "es": ("Depósito acreditado", "Su depósito {reference} de {amount} fue acreditado."),
    },
    "trading.margin_warning": {
        "en": ("Margin warning", "Account {login}: margin level {margin_level}%."),
        "es": ("Aviso de margen", "Cuenta {login}: nivel de margen {margin_level}%."),
    },
    "trading.margin_stop_out": {
        "en": ("Stop out", "Account {login}: margin level {margin_level}%, positions are being closed."),
        "es": ("Stop out", "Cuenta {login}: nivel de margen {margin_level}%, se están cerrando posiciones."),
    },
    "security.password_changed": {
        "en": ("Security notice", "Your password was changed."),
        "es": ("Aviso de seguridad", "Su contraseña fue cambiada."),
    },
    "security.email_changed": {
        "en": ("Security notice", "Your sign-in e-mail was changed."),
        "es": ("Aviso de seguridad", "Su correo de acceso fue cambiado."),
    },
    "security.refresh_reuse": {
        "en": ("Security notice", "A stale sign-in token was reused, so that session was ended."),
        "es": ("Aviso de seguridad", "Se reutilizó un token de acceso antiguo; esa sesión se cerró."),
    },
    "security.totp_replay": {
        "en": ("Security notice", "A two-factor code was used twice; check your devices."),
        "es": ("Aviso de seguridad", "Un código de dos factores se usó dos veces; revise sus dispositivos."),
    },
}
FALLBACK = {"en": "Notification", "es": "Notificación"}


def language_of(tag: str) -> str:
    base = tag.split("-")[0].lower()
    return base if base in FALLBACK else "en"


def render(kind: str, language: str, message: str, details: dict[str, str]) -> tuple[str, str]:
    """(title, body) for a notification; a kind without texts keeps its English message under a generic title."""
    lang = language_of(language)
    texts = TEXTS.get(kind, {}).get(lang)
    if texts is None:
        return FALLBACK[lang], message
    amount = details.get("amount", "")
    if amount and details.get("currency"):
        # The tag's own region when it is one of ours (es-MX), else the language's default; every digit kept.
        locale = language.replace("-", "_") if language_of(language) == language.split("-")[0].lower() else lang
        try:
            amount = format_currency(Decimal(amount), details["currency"], locale=locale, currency_digits=False,
                                     decimal_quantization=False)
        except (InvalidOperation, ValueError, UnknownLocaleError):
            amount = f"{amount} {details['currency']}"
    fields = {"reference": "", "login": "", "margin_level": "", **details, "amount": amount}
    return texts[0], texts[1].format(**fields)
