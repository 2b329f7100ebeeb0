"""Webhook signatures: HMAC over timestamp and raw body, tolerance, rotation, constant-time compare."""

from __future__ import annotations

import time

import pytest

from domain.shared.webhooks import WebhookRejected, sign, verify_signature

BODY = b'{"id":"evt_1","type":"payment.succeeded"}'


def test_valid_signature_with_any_current_secret() -> None:
    header = sign("new-secret", BODY)
    assert verify_signature(header, BODY, ["old-secret", "new-secret"]) > 0


@pytest.mark.parametrize("mutate", [
    lambda h, b: (h, b + b" "),                      # body changed
    lambda h, b: (h.replace("v1=", "v1=0"), b),       # signature changed
    lambda h, b: (None, b),                           # missing
    lambda h, b: ("v1=abc", b),                       # no timestamp
    lambda h, b: ("t=notanumber,v1=abc", b),          # malformed timestamp
])
def test_tampering_is_rejected(mutate) -> None:
    header, body = mutate(sign("s3cret", BODY), BODY)
    with pytest.raises(WebhookRejected):
        verify_signature(header, body, ["s3cret"])


def test_wrong_secret_and_stale_timestamp_are_rejected() -> None:
    with pytest.raises(WebhookRejected) as wrong:
        verify_signature(sign("other", BODY), BODY, ["s3cret"])
    assert wrong.value.code == "WEBHOOK_SIGNATURE_INVALID"
    old = sign("s3cret", BODY, timestamp=int(time.time()) - 301)
    with pytest.raises(WebhookRejected) as stale:
        verify_signature(old, BODY, ["s3cret"])
    assert stale.value.code == "WEBHOOK_TIMESTAMP_OUT_OF_RANGE"
