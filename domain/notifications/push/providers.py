"""The configured push providers, by name ("fcm", "apns"); one not configured is absent."""

from __future__ import annotations

from domain.notifications.push.apns import ApnsClient
from domain.notifications.push.fcm import FcmClient
from domain.notifications.push.port import PushPort
from domain.shared.settings import Settings


def configured(settings: Settings) -> dict[str, PushPort]:
    ports: dict[str, PushPort] = {}
    if settings.push_fcm_project_id and settings.push_fcm_client_email:
        ports["fcm"] = FcmClient(project_id=settings.push_fcm_project_id, base_url=settings.push_fcm_base_url,
                                 token_uri=settings.push_fcm_token_uri, client_email=settings.push_fcm_client_email,
                                 private_key=settings.push_fcm_private_key.get_secret_value(),
                                 timeout_s=settings.push_timeout_s)
    if settings.push_apns_team_id and settings.push_apns_key_id:
        ports["apns"] = ApnsClient(base_url=settings.push_apns_base_url, team_id=settings.push_apns_team_id,
                                   key_id=settings.push_apns_key_id,
                                   private_key=settings.push_apns_private_key.get_secret_value(),
                                   topic=settings.push_apns_topic, timeout_s=settings.push_timeout_s)
    return ports
