"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): the answer's media type from
the Accept header, a request's parameters from a JSON body or a GET query string, and the status code
of a result.

`application/graphql-response+json` (asked for) answers a request error (a document that does not
parse or validate, variables that do not coerce: nothing executed) with 400 and no `data`; the
legacy `application/json` (asked for, `*/*`, or no Accept at all) answers every result with 200.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from graphql import GraphQLError

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_JSON_BYTES = JSON.encode()
CONTENT_TYPES = {GRAPHQL_RESPONSE: "application/graphql-response+json; charset=utf-8", JSON: JSON}


def negotiate(accept: bytes) -> str | None:
    """The media type to answer in; None when the client accepts neither (406).
    `application/graphql-response+json` wins a tie with `application/json` (the spec's preference)."""
    if not accept or accept == b"*/*" or accept == _JSON_BYTES:  # nearly every request: no parsing
        return JSON
    best_response = best_json = -1.0
    for item in accept.decode("latin-1").split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == GRAPHQL_RESPONSE:
            best_response = max(best_response, q)
        elif media in (JSON, "application/*", "*/*"):
            best_json = max(best_json, q)
    if best_response > 0 and best_response >= best_json:
        return GRAPHQL_RESPONSE
    return JSON if best_json > 0 else None


class BadRequest(Exception):
    """A request that is not a GraphQL request: answered before anything runs."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(slots=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None
    document_id: str | None  # a trusted document's id instead of the query text (api/documents)


def _params(data: dict[str, Any]) -> GraphQLParams:
    query, variables = data.get("query"), data.get("variables")
    name, extensions, document_id = data.get("operationName"), data.get("extensions"), data.get("documentId")
    if not isinstance(query, str | None):
        raise BadRequest("BAD_OPERATION", "The GraphQL request's `query` must be a string.")
    if not isinstance(variables, dict | None):
        raise BadRequest("BAD_OPERATION", "The GraphQL request's `variables` must be a map or null.")
    if not isinstance(name, str | None):
        raise BadRequest("BAD_OPERATION", "The GraphQL operation's `operationName` must be a string or null, "
                                          "if provided.")
    if not isinstance(extensions, dict | None):
        raise BadRequest("BAD_OPERATION", "The GraphQL request's `extensions` must be a map or null.")
    if not isinstance(document_id, str | None):
        raise BadRequest("BAD_OPERATION", "The GraphQL request's `documentId` must be a string.")
    return GraphQLParams(query, variables, name, extensions, document_id)


def from_body(body: bytes) -> GraphQLParams:
    """The parameters of a POSTed JSON body."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("MALFORMED_JSON", "Unable to parse request body as JSON") from exc
    if isinstance(data, list):
        raise BadRequest("BATCHING_DISABLED", "Batching is not enabled: send one operation per request.")
    if not isinstance(data, dict):
        raise BadRequest("BAD_OPERATION", "The GraphQL request must be a JSON object.")
    return _params(data)


def from_query_string(query_string: bytes) -> GraphQLParams:
    """The parameters of a GET: `query`, `operationName`, `documentId` as text, `variables` and
    `extensions` as URL-encoded JSON."""
    data: dict[str, Any] = {}
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise BadRequest("BAD_OPERATION", "The query string is not UTF-8.") from exc
    for key, value in pairs:
        if key in data:
            raise BadRequest("BAD_OPERATION", f"The parameter `{key}` is given more than once.")
        if key in ("variables", "extensions") and value:
            try:
                data[key] = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise BadRequest("BAD_OPERATION", f"The parameter `{key}` must be URL-encoded JSON.") from exc
        else:
            data[key] = value or None
    return _params(data)


def document_id(params: GraphQLParams) -> str | None:
    """The trusted document a request names: `documentId`, else Apollo's persisted-query hash."""
    if params.document_id is not None:
        return params.document_id
    persisted = (params.extensions or {}).get("persistedQuery")
    digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    return digest if isinstance(digest, str) else None


def is_request_error(data: object, errors: list[GraphQLError] | None) -> bool:
    """Nothing executed: no data, and every error is about the request (a field's error has a path)."""
    return data is None and bool(errors) and all(not error.path for error in errors or ())
