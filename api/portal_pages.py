"""`GET /verify-email`, `/reset-password`, `/confirm-email` on the API itself (development).

E-mailed links point at `<FOREXCRM_PORTAL_URL>/<path>?token=...` (domain.shared.settings
`portal_link`); the portal reads the token and calls the mutation. Without a portal the links
point at the API, which answers with a tiny page naming the mutation to call, instead of a 404.
The page never echoes the token (it is a secret; a page is cached, shared and logged): it tells
the reader to copy it from the address bar.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from domain.shared.settings import Settings

# path -> (what the link is for, the mutation a portal calls with the token)
PORTAL_PATHS: dict[str, tuple[str, str]] = {
    "verify-email": ("Confirm your e-mail address",
                     'mutation { verifyClientEmail(token: "<token>") { client { status } errors { code message } } }'),
    "reset-password": ("Choose a new password",
                       'mutation { resetPassword(token: "<token>", newPassword: "<new password>") '
                       "{ ok errors { code message } } }"),
    "confirm-email": ("Confirm your new e-mail address",
                      'mutation { confirmEmailChange(token: "<token>") { ok errors { code message } } }'),
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>{title}</title></head>
<body><h1>{title}</h1>
<p>This link is meant for the client portal (set <code>FOREXCRM_PORTAL_URL</code> so e-mailed links
point at it). This server is the GraphQL API: send the <code>token</code> from this page's address
to <code>POST /graphql</code>:</p>
<pre>{mutation}</pre>
</body></html>
"""


def portal_page_routes(settings: Settings) -> list[Route]:
    if settings.is_production:
        return []

    def page(path: str) -> Route:
        title, mutation = PORTAL_PATHS[path]
        body = _PAGE.format(title=html.escape(title), mutation=html.escape(mutation))

        async def endpoint(_: Request) -> Response:
            return HTMLResponse(body, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                               "Content-Security-Policy": "default-src 'none'"})

        return Route(f"/{path}", endpoint, methods=["GET"])

    return [page(p) for p in PORTAL_PATHS]
