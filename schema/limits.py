"""Query limits: depth, aliases, tokens, and an estimated cost.

The cost rule charges 1 per field and multiplies a list field's selection by its page size
(`first`, default 50), so one request cannot ask for pages of pages of pages.

Every rule depends on the query text alone (never on variables), so each distinct text is parsed
and validated once and the outcome kept (`DocumentCache`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    VariableNode,
    parse,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from domain.shared.settings import Settings

DEFAULT_PAGE = 50


def cost_rule(max_cost: int) -> type[ASTValidationRule]:
    class QueryCostRule(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments = {
                f.name.value: f for f in context.document.definitions if isinstance(f, FragmentDefinitionNode)
            }

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            variables: dict[str, Any] = {}
            cost = self._cost(node.selection_set, variables, depth=0)
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"Query cost {cost} exceeds the limit of {max_cost}; ask for smaller pages or fewer fields.",
                        node,
                        extensions={"code": "QUERY_TOO_COSTLY"},
                    )
                )

        def _page(self, field: FieldNode) -> int:
            for arg in field.arguments or ():
                if arg.name.value in ("first", "last", "limit"):
                    if isinstance(arg.value, IntValueNode):
                        return max(1, int(arg.value.value))
                    if isinstance(arg.value, VariableNode):
                        return DEFAULT_PAGE * 2  # unknown until execution: assume the maximum page
            return 1

        def _cost(self, selection_set: SelectionSetNode | None, variables: dict[str, Any], depth: int) -> int:
            if selection_set is None or depth > 50:
                return 0
            total = 0
            for sel in selection_set.selections:
                if isinstance(sel, FieldNode):
                    children = self._cost(sel.selection_set, variables, depth + 1)
                    total += 1 + self._page(sel) * children
                elif isinstance(sel, InlineFragmentNode):
                    total += self._cost(sel.selection_set, variables, depth + 1)
                elif isinstance(sel, FragmentSpreadNode):
                    frag = self.fragments.get(sel.name.value)
                    if frag is not None:
                        total += self._cost(frag.selection_set, variables, depth + 1)
            return total

    return QueryCostRule


# Fields that guess or spend a secret: at most one of them per request, so aliases cannot multiply
# password or code attempts inside one rate-limited request.
ONCE_PER_REQUEST = frozenset({
    "login", "register", "refreshToken", "stepUp", "confirmTotpEnrollment", "requestPasswordReset",
    "resetPassword", "confirmEmailChange", "changePassword", "createApiToken",
})


class OncePerRequestRule(ASTValidationRule):
    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.seen = 0

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        parent = self.context.get_parent_type() if isinstance(self.context, ValidationContext) else None
        if node.name.value in ONCE_PER_REQUEST and parent is not None and parent.name == "Mutation":
            self.seen += 1
            if self.seen == 2:
                self.report_error(GraphQLError(
                    f"{node.name.value}: sign-in and secret-handling fields may appear once per request",
                    node, extensions={"code": "SENSITIVE_FIELD_REPEATED"},
                ))


class _Checked(NamedTuple):
    document: DocumentNode
    errors: list[GraphQLError] | None  # None until first validated


class DocumentCache:
    """Each distinct query text parsed (within the token limit) and validated (every rule) once.

    strawberry's ParserCache and ValidationCache key an LRU on the parsed document, which hashes
    the whole syntax tree on every request; a client sends the same few texts again and again, so
    this keys on the text and keeps the document and its validation errors together."""

    def __init__(self, *, maxsize: int, max_tokens: int, rules: Sequence[type[ASTValidationRule]]) -> None:
        self._maxsize = maxsize
        self._max_tokens = max_tokens
        self._rules = tuple(rules)
        self._entries: OrderedDict[str, _Checked] = OrderedDict()

    def parse(self, query: str) -> DocumentNode:
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            return entry.document
        document = parse(query, max_tokens=self._max_tokens)  # raises GraphQLError: not kept
        self._entries[query] = _Checked(document, None)
        if len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)
        return document

    def validate(self, context: Any) -> list[GraphQLError]:
        query, document = context.query, context.graphql_document
        entry = self._entries.get(query) if query else None
        if entry is not None and entry.document is document and entry.errors is not None:
            return list(entry.errors)
        errors = validate_document(context.schema._schema, document, (*context.validation_rules, *self._rules))
        if entry is not None and entry.document is document:
            self._entries[query] = _Checked(document, errors)
        return list(errors)

    def prepare(self, context: ExecutionContext) -> None:
        """Give a request's execution context its document and validation errors: strawberry then
        neither parses nor validates (no extension hooks either: they cost more than a cache hit).
        A text that does not parse is left to strawberry, under the same token limit, to report."""
        if context.graphql_document is not None or not context.query:
            return
        try:
            context.graphql_document = self.parse(context.query)
        except GraphQLError:
            context.parse_options = {"max_tokens": self._max_tokens}
            return
        context.pre_execution_errors = self.validate(context)


def document_cache(settings: Settings) -> DocumentCache:
    rules: list[type[ASTValidationRule]] = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        cost_rule(settings.max_query_cost),
        OncePerRequestRule,
    ]
    if not settings.introspection_enabled:
        rules.append(NoSchemaIntrospectionCustomRule)
    return DocumentCache(maxsize=max(settings.parser_cache_size, settings.validation_cache_size),
                         max_tokens=settings.max_tokens, rules=rules)
