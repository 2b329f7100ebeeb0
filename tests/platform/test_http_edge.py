"""Bad input at the HTTP and GraphQL edge: clear errors with stable codes, never a 500."""

from __future__ import annotations

import httpx

from tests.conftest import GraphQLClient


async def test_malformed_json_is_a_400_with_code(http: httpx.AsyncClient) -> None:
    r = await http.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "MALFORMED_JSON"


async def test_wrong_content_type_is_a_415(http: httpx.AsyncClient) -> None:
    r = await http.post("/graphql", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_CONTENT_TYPE"


async def test_oversized_body_is_a_413(http: httpx.AsyncClient, live_server) -> None:
    big = b'{"query": "{ serverTime }", "pad": "' + b"x" * (live_server.settings.max_body_bytes + 10) + b'"}'
    r = await http.post("/graphql", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_oversized_chunked_body_is_refused(http: httpx.AsyncClient, live_server) -> None:
    limit = live_server.settings.max_body_bytes

    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = await http.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


async def test_unknown_operation_name(http: httpx.AsyncClient) -> None:
    r = await http.post("/graphql", json={"query": "query A { serverTime }", "operationName": "B"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "OPERATION_NOT_FOUND"


async def test_batching_is_off(http: httpx.AsyncClient) -> None:
    r = await http.post("/graphql", json=[{"query": "{ serverTime }"}, {"query": "{ serverTime }"}])
    assert r.status_code == 400
    assert "errors" in r.json()


async def test_a_request_of_the_wrong_shape_is_a_400_with_code(http: httpx.AsyncClient) -> None:
    for body in ({"query": 5}, {"query": "{ serverTime }", "variables": [1]}, {"query": "{ serverTime }",
                                                                             "operationName": 7}):
        r = await http.post("/graphql", json=body)
        assert r.status_code == 400, body
        assert r.json()["errors"][0]["extensions"]["code"] == "BAD_OPERATION"


async def test_variables_and_operation_name_are_honoured(gql: GraphQLClient) -> None:
    body = await gql("query A { serverTime } query B { apiVersion @include(if: true) a: apiVersion @skip(if: false) }",
                     operationName="B")
    assert "errors" not in body and set(body["data"]) == {"apiVersion", "a"}
    body = await gql("query C($on: Boolean!) { apiVersion @include(if: $on) }", {"on": False})
    assert body == {"data": {}}


async def test_queries_run_over_get_mutations_do_not(http: httpx.AsyncClient) -> None:
    r = await http.get("/graphql", params={"query": "{ serverTime }"}, headers={"accept": "application/json"})
    assert r.status_code == 200 and r.json()["data"]["serverTime"]
    r = await http.get("/graphql", params={"query": "mutation { logout { ok } }"}, headers={"accept": "application/json"})
    assert r.status_code == 405


async def test_syntax_error_is_reported_not_masked(gql: GraphQLClient) -> None:
    body = await gql("{ serverTime ")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Syntax Error" in body["errors"][0]["message"]


async def test_depth_limit() -> None:
    from domain.shared.settings import Settings
    from schema.root import build_schema

    schema = build_schema(Settings(max_query_depth=2))
    result = await schema.execute("{ announcements { edges { node { id } } } }")
    assert result.errors and "exceeds maximum operation depth" in result.errors[0].message
    assert result.data is None


async def test_introspection_is_off_in_production_settings() -> None:
    from domain.shared.settings import Mode, Settings
    from schema.root import build_schema

    schema = build_schema(Settings(mode=Mode.PRODUCTION))
    result = await schema.execute("{ __schema { types { name } } }")
    assert result.errors and "introspection" in result.errors[0].message.lower()


async def test_alias_limit(gql: GraphQLClient, live_server) -> None:
    aliases = " ".join(f"a{i}: serverTime" for i in range(live_server.settings.max_aliases + 1))
    body = await gql("{ " + aliases + " }")
    assert body["errors"] and "aliases" in body["errors"][0]["message"].lower()
    assert body.get("data") is None


async def test_token_limit(gql: GraphQLClient, live_server) -> None:
    fields = " ".join("serverTime" for _ in range(live_server.settings.max_tokens + 1))
    body = await gql("{ " + fields + " }")
    assert body["errors"] and "token" in body["errors"][0]["message"].lower()


async def test_cost_limit(gql: GraphQLClient) -> None:
    query = "{ " + " ".join(
        f"p{i}: announcements(first: 100) {{ edges {{ cursor node {{ id title body severity createdAt }} }} }}"
        for i in range(12)
    ) + " }"
    body = await gql(query)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert body.get("data") is None


async def test_unauthenticated_field_is_refused_with_code(gql: GraphQLClient) -> None:
    body = await gql("{ announcements { nodes { id } } }")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_request_id_is_echoed_and_generated(http: httpx.AsyncClient) -> None:
    r = await http.post("/graphql", json={"query": "{ serverTime }"}, headers={"x-request-id": "abcdef123456"})
    assert r.headers["x-request-id"] == "abcdef123456"
    r2 = await http.post("/graphql", json={"query": "{ serverTime }"}, headers={"x-request-id": "bad id!"})
    assert r2.headers["x-request-id"] != "bad id!" and len(r2.headers["x-request-id"]) == 32


async def test_health_ready_metrics(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health")).json() == {"status": "ok"}
    ready = await http.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["migrations"] == "current"
    await http.post("/graphql", json={"query": "query MetricsProbe { serverTime }", "operationName": "MetricsProbe"})
    metrics = (await http.get("/metrics")).text
    assert 'forexcrm_graphql_requests_total{operation="MetricsProbe",outcome="ok"}' in metrics
    assert "forexcrm_outbox_lag_seconds" in metrics


async def test_cors_allows_listed_portal_origins_only(http: httpx.AsyncClient) -> None:
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    ok = await http.options("/graphql", headers={"origin": "http://localhost:5173", **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert ok.headers["access-control-allow-credentials"] == "true"
    bad = await http.options("/graphql", headers={"origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in bad.headers


async def test_a_null_for_a_required_variable_is_named_over_http(gql: GraphQLClient) -> None:
    body = await gql("query($k: String!) { operationByIdempotencyKey(key: $k) { status } }", {"k": None})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Variable '$k'" in error["message"] and "not to be null" in error["message"], error
