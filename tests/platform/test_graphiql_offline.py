"""GraphiQL works offline: the page and everything it loads come from the API itself, and the page's
Content-Security-Policy allows this origin only."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import httpx


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str | None]] = []  # (url, integrity)
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = a.get("src") or a.get("href")
        if url:
            self.refs.append((url, a.get("integrity")))
        elif tag == "script":
            self.inline_scripts += 1


async def test_graphiql_page_references_no_external_host(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    parser = _Refs()
    parser.feed(page.text)
    assert parser.inline_scripts == 0
    assert not re.search(r"https?://", page.text)  # no host named anywhere in the page
    assets = [(url, integrity) for url, integrity in parser.refs if not url.startswith("data:")]
    assert len(assets) >= 6
    for url, integrity in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = await http.get(url)
        assert asset.status_code == 200, url
        if integrity:  # the vendored file is the one strawberry pins
            algorithm, digest = integrity.split("-", 1)
            assert base64.b64encode(hashlib.new(algorithm, asset.content).digest()).decode() == digest, url
    init = await http.get("/graphiql-assets/init.js")
    assert not re.search(r"https?://", init.text)

    csp = page.headers["content-security-policy"]
    assert not re.search(r"https?:|\*|unpkg|cdn", csp), csp
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self'"


async def test_assets_are_not_served_without_graphiql(settings) -> None:  # type: ignore[no-untyped-def]
    from api.app import create_app

    app = create_app(settings.model_copy(update={"graphiql": False}), settings.database_url, settings.redis_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/graphiql-assets/init.js")).status_code == 404
