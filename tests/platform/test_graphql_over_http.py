"""GraphQL over HTTP: media types, status codes, GET for queries and how a GET answer may be cached.
(The graphql-http audit in test_graphql_http_audit.py checks the spec's MUSTs and SHOULDs; these pin
what it leaves open and what is ours.)"""

from __future__ import annotations

import httpx
import pytest

from api.graphql_http import GRAPHQL_RESPONSE, negotiate
from tests.conftest import GraphQLClient
from tests.identity.helpers import count, register

RESPONSE_ACCEPT = {"accept": GRAPHQL_RESPONSE}


@pytest.mark.parametrize("query, variables", [
    ("{ serverTime ", None),  # does not parse
    ("{ noSuchField }", None),  # does not validate
    ("query($n: Int!) { apiVersion @include(if: $n) }", {"n": 1}),  # does not validate (variable type)
    ("query($on: Boolean!) { apiVersion @include(if: $on) }", {"on": "yes"}),  # does not coerce
])
async def test_a_request_error_is_a_400_without_data_in_graphql_response_json(
        http: httpx.AsyncClient, query: str, variables: dict[str, object] | None) -> None:
    r = await http.post("/graphql", json={"query": query, "variables": variables}, headers=RESPONSE_ACCEPT)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    body = r.json()
    assert "data" not in body and body["errors"][0]["extensions"]["code"]


@pytest.mark.parametrize("query, variables", [
    ("{ noSuchField }", None),
    ("query($on: Boolean!) { apiVersion @include(if: $on) }", {"on": "yes"}),
])
async def test_the_legacy_media_type_keeps_200_for_a_request_error(
        http: httpx.AsyncClient, query: str, variables: dict[str, object] | None) -> None:
    for accept in ({"accept": "application/json"}, {"accept": "*/*"}, {}):
        r = await http.post("/graphql", json={"query": query, "variables": variables}, headers=accept)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", accept
        assert r.json()["data"] is None and r.json()["errors"]


async def test_a_field_error_is_a_200_with_data_in_graphql_response_json(http: httpx.AsyncClient) -> None:
    # an anonymous caller reading a signed-in field: execution ran, the field failed
    r = await http.post("/graphql", json={"query": "{ apiVersion myWallets { id } }"}, headers=RESPONSE_ACCEPT)
    assert r.status_code == 200
    body = r.json()
    assert "data" in body and body["errors"][0]["path"] == ["myWallets"]
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_successful_query_in_graphql_response_json(http: httpx.AsyncClient) -> None:
    r = await http.post("/graphql", json={"query": "{ apiVersion }"}, headers=RESPONSE_ACCEPT)
    assert r.status_code == 200 and r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert set(r.json()) == {"data"}


@pytest.mark.parametrize("accept, expected", [
    (b"", "application/json"),
    (b"*/*", "application/json"),
    (b"application/json", "application/json"),
    (b"application/graphql-response+json", GRAPHQL_RESPONSE),
    (b"application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE),
    (b"application/json, application/graphql-response+json", GRAPHQL_RESPONSE),
    (b"application/graphql-response+json;q=0.2, application/json", "application/json"),
    (b"text/plain, application/*;q=0.5", "application/json"),
    (b"application/graphql-response+json;q=0", None),
    (b"text/plain", None),
])
def test_accept_negotiation(accept: bytes, expected: str | None) -> None:
    assert negotiate(accept) == expected


async def test_an_unacceptable_accept_header_is_a_406(http: httpx.AsyncClient) -> None:
    r = await http.post("/graphql", json={"query": "{ apiVersion }"}, headers={"accept": "text/plain"})
    assert r.status_code == 406 and r.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


async def test_a_query_over_get_is_answered_and_publicly_cacheable_when_anonymous(http: httpx.AsyncClient) -> None:
    r = await http.get("/graphql", params={"query": "query V($x: Boolean!) { apiVersion @include(if: $x) }",
                                           "variables": '{"x": true}', "operationName": "V"},
                       headers=RESPONSE_ACCEPT)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["apiVersion"]
    assert r.headers["cache-control"] == "public, max-age=30"
    assert set(r.headers["vary"].replace(" ", "").split(",")) >= {"Accept", "Authorization", "Cookie"}


async def test_a_signed_in_get_is_private_and_not_stored(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    client = await register(gql)
    r = await http.get("/graphql", params={"query": "{ me { email } }"},
                       headers={"authorization": f"Bearer {client['accessToken']}"})
    assert r.status_code == 200 and r.json()["data"]["me"]["email"] == client["email"]
    assert r.headers["cache-control"] == "private, no-store"


async def test_a_get_with_errors_is_not_stored(http: httpx.AsyncClient) -> None:
    r = await http.get("/graphql", params={"query": "{ apiVersion myWallets { id } }"})
    assert r.status_code == 200 and r.json()["errors"]
    assert r.headers["cache-control"] == "private, no-store"


async def test_a_mutation_over_get_is_a_405_and_changes_nothing(http: httpx.AsyncClient, session_factory) -> None:
    email = "get-mutation@example.com"
    query = ('mutation($i: RegisterInput! = {email: "' + email + '", password: "correct horse battery staple 42"}) '
             '{ register(input: $i) { accessToken } }')
    for accept in (RESPONSE_ACCEPT, {"accept": "application/json"}):
        r = await http.get("/graphql", params={"query": query}, headers=accept)
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        assert r.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert await count(session_factory, "users", "email = :e", e=email) == 0


async def test_a_get_with_only_the_cookie_needs_the_preflight_header(http: httpx.AsyncClient) -> None:
    params = {"query": "{ apiVersion }"}
    r = await http.get("/graphql", params=params, headers={"cookie": "forexcrm_access=whatever"})
    assert r.status_code == 403 and r.json()["errors"][0]["extensions"]["code"] == "PREFLIGHT_REQUIRED"
    r = await http.get("/graphql", params=params,
                       headers={"cookie": "forexcrm_access=whatever", "x-requested-with": "fetch"})
    assert r.status_code != 403


@pytest.mark.parametrize("params, code", [
    ({"query": "{ apiVersion }", "variables": "{not json"}, "BAD_OPERATION"),
    ({"query": "{ apiVersion }", "variables": "[1]"}, "BAD_OPERATION"),
    ({"operationName": "A"}, "MISSING_QUERY"),
])
async def test_a_malformed_get_is_a_400(http: httpx.AsyncClient, params: dict[str, str], code: str) -> None:
    r = await http.get("/graphql", params=params, headers=RESPONSE_ACCEPT)
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == code


async def test_the_graphiql_page_is_still_a_browser_get_without_a_query(http: httpx.AsyncClient) -> None:
    r = await http.get("/graphql", headers={"accept": "text/html"})
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
