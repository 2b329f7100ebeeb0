"""`GET /r/<code>`: an IB's referral link. Counts the click (once per visitor, link and day; no
address is stored) and redirects to the portal page the link targets with `ib_code` and the
link's UTM fields, which the portal passes to `registerClient(attribution: {ibCode, utm...})`.
An unknown or disabled code still lands the visitor, without attribution and without a count.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from domain.ib import links
from domain.shared.db import utcnow
from domain.shared.settings import Settings
from infra.services import AppServices

log = structlog.get_logger(__name__)
VISITOR_TTL_S = 86_400


def target_urls(settings: Settings) -> dict[str, str]:
    base = settings.public_base_url.rstrip("/")
    return {links.LinkTarget.REGISTRATION.value: settings.ib_referral_registration_url or f"{base}/register",
            links.LinkTarget.HOME.value: settings.ib_referral_home_url or f"{base}/"}


def referral_routes(services: Callable[[], AppServices]) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        svc = services()
        urls = target_urls(svc.settings)
        code = str(request.path_params["code"])
        landing = links.Landing(None, links.LinkTarget.REGISTRATION.value, {})
        try:
            if links.valid_code(code):
                landing = await links.landing(svc.session_factory, code)
            if landing.code is not None:
                # Only known, active codes reach Redis: junk codes cost a lookup and nothing else.
                ip = request.client.host if request.client else ""
                key = links.visitor_key(svc.settings.secret_key.get_secret_value(), landing.code, ip, utcnow())
                if await svc.redis.set(key, b"1", nx=True, ex=VISITOR_TTL_S):
                    await links.add_click(svc.session_factory, landing.code)
        except Exception:  # the database or Redis is unavailable: the visitor still lands
            log.warning("ib.click_uncounted")
        url = links.landing_url(urls.get(landing.target, urls[links.LinkTarget.REGISTRATION.value]), landing)
        return RedirectResponse(url, status_code=302, headers={"cache-control": "no-store",
                                                                "referrer-policy": "no-referrer"})

    return [Route("/r/{code}", endpoint, methods=["GET"])]
