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
    ArgumentNode,
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
    StringValueNode,
    ValidationContext,
    VariableNode,
    parse,
    validate,
)
from graphql.validation import NoFragmentCyclesRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from domain.shared.settings import Settings

DEFAULT_PAGE = 50
MAX_PAGE_READ = 10**9


def cost_rule(max_cost: int) -> type[ASTValidationRule]:
    class QueryCostRule(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments = {
                f.name.value: f for f in context.document.definitions if isinstance(f, FragmentDefinitionNode)
            }
            self.costs: dict[str, int] = {}

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
                    if isinstance(arg.value, IntValueNode):  # any number of digits: read at most ten
                        digits = arg.value.value.lstrip("-")
                        return MAX_PAGE_READ if len(digits) > 9 else max(1, int(arg.value.value))
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
                    total += self._fragment_cost(sel.name.value, variables, depth)
            return total

        def _fragment_cost(self, name: str, variables: dict[str, Any], depth: int) -> int:
            # Once per fragment: spreads repeated at every level would otherwise double the work each time.
            if name not in self.costs:
                frag = self.fragments.get(name)
                self.costs[name] = 0  # a cycle (refused by NoFragmentCycles) adds nothing
                if frag is not None:
                    self.costs[name] = self._cost(frag.selection_set, variables, depth + 1)
            return self.costs[name]

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


# Arguments that carry a whole document as text (statement and report imports): bounded by the
# body size limit, not by `max_string_length`. (type, field, argument)
LONG_TEXT_ARGUMENTS = frozenset({
    ("Mutation", "importSettlementReport", "csv"),
    ("Mutation", "importBankStatement", "content"),
})
INPUT_TOO_LONG = "INPUT_TOO_LONG"


def _too_long(max_length: int, node: Any = None) -> GraphQLError:
    return GraphQLError(f"A string input is longer than {max_length} characters.", node,
                        extensions={"code": INPUT_TOO_LONG})


def string_length_rule(max_length: int) -> type[ASTValidationRule]:
    """String literals in the query text are capped like variables (`DocumentCache.prepare`)."""

    class StringLengthRule(ASTValidationRule):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
            context = self.context
            if not isinstance(context, ValidationContext):
                return None
            parent, field = context.get_parent_type(), context.get_field_def()
            if parent is not None and field is not None:
                name = next((n for n, f in parent.fields.items() if f is field), None)  # type: ignore[union-attr]
                if (parent.name, name, node.name.value) in LONG_TEXT_ARGUMENTS:
                    return self.SKIP
            return None

        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            if len(node.value) > max_length:
                self.report_error(_too_long(max_length, node))

    return StringLengthRule


def _longest_string_over(value: Any, limit: int) -> bool:
    """Whether any string inside a variable's value (objects and lists walked) is over the limit."""
    if isinstance(value, str):
        return len(value) > limit
    if isinstance(value, dict):
        return any(_longest_string_over(v, limit) for v in value.values())
    if isinstance(value, list):
        return any(_longest_string_over(v, limit) for v in value)
    return False


def _long_text_variables(document: DocumentNode) -> set[str]:
    """Variables passed straight to a LONG_TEXT_ARGUMENTS argument of a root mutation field."""
    names: set[str] = set()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and definition.operation.value == "mutation":
            for sel in definition.selection_set.selections:
                if isinstance(sel, FieldNode):
                    for arg in sel.arguments or ():
                        if (("Mutation", sel.name.value, arg.name.value) in LONG_TEXT_ARGUMENTS
                                and isinstance(arg.value, VariableNode)):
                            names.add(arg.value.name.value)
    return names


class _Checked(NamedTuple):
    document: DocumentNode
    errors: list[GraphQLError] | None  # None until first validated


class DocumentCache:
    """Each distinct query text parsed (within the token limit) and validated (every rule) once.

    strawberry's ParserCache and ValidationCache key an LRU on the parsed document, which hashes
    the whole syntax tree on every request; a client sends the same few texts again and again, so
    this keys on the text and keeps the document and its validation errors together."""

    def __init__(self, *, maxsize: int, max_tokens: int, max_fields: int,
                 rules: Sequence[type[ASTValidationRule]], max_string_length: int = 10_000,
                 hide_suggestions: bool = False) -> None:
        self._maxsize = maxsize
        self._max_tokens = max_tokens
        self._max_fields = max_fields
        self._max_string = max_string_length
        # With introspection off, "Did you mean ...?" would spell out the schema field by field.
        self._hide_suggestions = hide_suggestions
        self._rules = (*rules, string_length_rule(max_string_length), MaybeNullValidationRule,
                       OneOfInputValidationRule)
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
        errors = self._check(context, document)
        if entry is not None and entry.document is document:
            self._entries[query] = _Checked(document, errors)
        return list(errors)

    def _check(self, context: Any, document: DocumentNode) -> list[GraphQLError]:
        # The rules walk fragment spreads as written, so a few hundred tokens of fragments spreading
        # the next one twice would keep them busy for hours: the expanded size is counted first,
        # once per fragment, and a document too large (or cyclic) meets no other rule.
        fields = expanded_fields(document, self._max_fields)
        if fields is None:
            return list(validate(context.schema._schema, document, [NoFragmentCyclesRule]))
        if fields > self._max_fields:
            return [GraphQLError(f"The query selects more than {self._max_fields} fields once its fragments are "
                                 "expanded; ask for fewer fields.", extensions={"code": "QUERY_TOO_COSTLY"})]
        return validate(context.schema._schema, document, (*context.validation_rules, *self._rules),
                        hide_suggestions=self._hide_suggestions)

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
        try:
            context.pre_execution_errors = self.validate(context) or self._check_variables(context)
        except Exception as exc:  # a rule that failed: an error (masked), never an escape past strawberry
            context.pre_execution_errors = [GraphQLError(str(exc), original_error=exc)]

    def _check_variables(self, context: ExecutionContext) -> list[GraphQLError]:
        """Strings in variables over `max_string_length` are refused before any resolver runs (a
        900 KB e-mail address must not reach the parser of e-mail addresses). The walk is cheap;
        which variables may carry a whole document is worked out only when one is long."""
        variables = context.variables
        if not variables or not _longest_string_over(variables, self._max_string):
            return []
        assert context.graphql_document is not None
        exempt = _long_text_variables(context.graphql_document)
        if any(_longest_string_over(v, self._max_string) for k, v in variables.items() if k not in exempt):
            return [_too_long(self._max_string)]
        return []


def expanded_fields(document: DocumentNode, limit: int) -> int | None:
    """Fields the document's operations select with every fragment spread expanded, counting each
    fragment once (memo); counting stops past `limit`. None when fragments spread in a cycle."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    sizes: dict[str, int] = {}

    class _Cycle(Exception):
        pass

    def count(selection_set: SelectionSetNode, open_: frozenset[str]) -> int:
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                total += 1 + (count(sel.selection_set, open_) if sel.selection_set else 0)
            elif isinstance(sel, InlineFragmentNode):
                total += count(sel.selection_set, open_)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name in open_:
                    raise _Cycle
                fragment = fragments.get(name)
                if fragment is not None:  # unknown: refused by validation
                    if name not in sizes:
                        sizes[name] = count(fragment.selection_set, open_ | {name})
                    total += sizes[name]
            if total > limit:
                return total
        return total

    try:
        total = 0
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                total += count(definition.selection_set, frozenset())
                if total > limit:
                    break
        return total
    except _Cycle:
        return None


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
                         max_tokens=settings.max_tokens, max_fields=settings.max_query_cost, rules=rules,
                         max_string_length=settings.max_string_length,
                         hide_suggestions=not settings.introspection_enabled)
