"""The FCM and APNs stand-ins on loopback in this event loop, with fresh keys, and settings that point at them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from sandbox.apns import ApnsStandIn, serving_apns
from sandbox.fcm import FcmStandIn
from sandbox.launcher import _generated
from sandbox.serving import free_port, serving

PROJECT, EMAIL = "forexcrm-test", "push@forexcrm-test.iam.gserviceaccount.com"
TEAM, KEY_ID, TOPIC = "TEAMID1234", "KEYID12345", "com.forexcrm.test"


@dataclass
class PushEnv:
    fcm: FcmStandIn
    apns: ApnsStandIn
    fcm_url: str
    apns_url: str
    fcm_key: str
    apns_key: str

    def settings_update(self) -> dict[str, Any]:
        return {"push_fcm_project_id": PROJECT, "push_fcm_base_url": self.fcm_url,
                "push_fcm_token_uri": f"{self.fcm_url}/token", "push_fcm_client_email": EMAIL,
                "push_fcm_private_key": SecretStr(self.fcm_key), "push_apns_base_url": self.apns_url,
                "push_apns_team_id": TEAM, "push_apns_key_id": KEY_ID, "push_apns_topic": TOPIC,
                "push_apns_private_key": SecretStr(self.apns_key), "push_retry_schedule_s": [0.05, 0.05, 0.05]}

    def process_env(self) -> dict[str, str]:
        """The same, as a worker process reads it (FOREXCRM_* variables)."""
        out: dict[str, str] = {}
        for k, v in self.settings_update().items():
            value = v.get_secret_value() if isinstance(v, SecretStr) else v
            out[f"FOREXCRM_{k.upper()}"] = value if isinstance(value, str) else __import__("json").dumps(value)
        return out


@contextlib.asynccontextmanager
async def push_stand_ins() -> AsyncIterator[PushEnv]:
    fcm_key, apns_key = _generated("sa_rsa_key"), _generated("auth_ec_key")
    port = free_port()
    fcm = FcmStandIn(PROJECT, EMAIL, fcm_key, base_url=f"http://127.0.0.1:{port}")
    apns = ApnsStandIn(TEAM, KEY_ID, TOPIC, apns_key)
    async with serving(fcm.app(), port) as fcm_url, serving_apns(apns) as apns_url:
        yield PushEnv(fcm, apns, fcm_url, apns_url, fcm_key, apns_key)
