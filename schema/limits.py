"""Query limits: depth, aliases, tokens, and an estimated cost.

The cost rule charges 1 per field and multiplies a list field's selection by its page size
(`first`, default 50), so one request cannot ask for pages of pages of pages.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
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
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

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


def limit_extensions(settings: Settings) -> list[SchemaExtension | type[SchemaExtension]]:
    # One extension carries every validation rule: each extension adds hook overhead to every request.
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        cost_rule(settings.max_query_cost),
        OncePerRequestRule,
    ]
    extensions: list[SchemaExtension | type[SchemaExtension]] = [
        ParserCache(maxsize=settings.parser_cache_size),
        ValidationCache(maxsize=settings.validation_cache_size),
        MaxTokensLimiter(max_token_count=settings.max_tokens),
        AddValidationRules(rules),
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection())
    return extensions
