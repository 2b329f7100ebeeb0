"""The schema: every context's queries, mutations and subscriptions merged into one.

Each `schema/<context>/resolvers.py` exports `QUERIES`, `MUTATIONS` and `SUBSCRIPTIONS` (tuples of
strawberry types); they are discovered here, so adding a context never edits this file.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import weakref
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import orjson
import strawberry
import structlog
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, GraphQLNonNull, GraphQLObjectType, OperationType, default_field_resolver, execute
from graphql.execution import create_source_event_stream, experimental_execute_incrementally
from graphql.execution.executor_throwing_on_incremental import ExecutorThrowingOnIncremental
from graphql.execution.middleware import MiddlewareManager
from graphql.pyutils import Path, Undefined, gather_with_cancel
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import MaskErrors
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES, StrawberryGraphQLCoreExecutionContext
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult, Info
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType as StrawberryOperationType

import schema as schema_pkg
from domain.shared.actor import ActorKind
from domain.shared.discovery import context_modules
from domain.shared.settings import Settings
from schema.errors import internal_error, should_mask, with_input_code
from schema.events import Shared
from schema.limits import DocumentCache, document_cache
from schema.permissions import scope_refusal, token_rules
from schema.plain_fields import (
    NestedPlan,
    NestedStep,
    OncePlan,
    Plan,
    RowFunction,
    Step,
    checked_once,
    compiled_row,
    decide,
    nested_fields,
    plain_fields,
    resolve_plain,
)
from schema.scalars import DECIMAL_OVERRIDE

log = structlog.get_logger(__name__)


def _discover() -> tuple[list[type], list[type], list[type], list[type]]:
    queries: list[type] = []
    mutations: list[type] = []
    subscriptions: list[type] = []
    extra_types: list[type] = []
    for module in context_modules(schema_pkg, "resolvers"):
        queries += list(getattr(module, "QUERIES", ()))
        mutations += list(getattr(module, "MUTATIONS", ()))
        subscriptions += list(getattr(module, "SUBSCRIPTIONS", ()))
        extra_types += list(getattr(module, "TYPES", ()))
    return queries, mutations, subscriptions, extra_types


# Empty, a middleware manager hands every field its own resolver and keeps nothing: one for every request.
_NO_MIDDLEWARE = MiddlewareManager()


class ApiSchema(strawberry.Schema):
    """strawberry's schema with each query text parsed, limited and validated once (DocumentCache),
    handed to every request's execution context as it is created; an API token's operation is
    checked against its scopes there too, before any field runs (schema/permissions.py)."""

    def __init__(self, *args: Any, documents: DocumentCache, **kwargs: Any) -> None:
        self.documents = documents
        super().__init__(*args, **kwargs)
        # Every root field's declared token scopes; a permission class not derived from Declared fails here.
        self.token_rules = token_rules(
            {OperationType.QUERY: self.query, OperationType.MUTATION: self.mutation,
             OperationType.SUBSCRIPTION: self.subscription},
            self.config.name_converter.get_graphql_name)

    def _create_execution_context(self, *args: Any, **kwargs: Any) -> ExecutionContext:
        context = super()._create_execution_context(*args, **kwargs)
        self.documents.prepare(context)
        actor = getattr(context.context, "actor", None)
        if (actor is not None and actor.kind is ActorKind.API_TOKEN and context.graphql_document is not None
                and not context.pre_execution_errors):
            refusal = scope_refusal(actor, context.graphql_document, context.operation_name,
                                    self.token_rules)
            if refusal is not None:
                context.pre_execution_errors = [refusal]
        return context

    async def execute(self, query: str | None, variable_values: dict[str, Any] | None = None,
                      context_value: Any | None = None, root_value: Any | None = None,
                      operation_name: str | None = None,
                      allowed_operation_types: Iterable[StrawberryOperationType] | None = None,
                      operation_extensions: dict[str, Any] | None = None) -> ExecutionResult:
        """strawberry's `execute` for an operation whose document the cache parsed and validated
        cleanly, without its extension runner: our one schema extension masks errors, which is done
        here after execution (`_MaskErrors`), and the runner's four hook stages cost about 50 us of
        CPU per request on a context manager and an exit stack each, with nothing to run inside.
        Anything else (a text that does not parse, validation errors, a schema with directives or
        resolve-wrapping extensions) takes strawberry's own path, extensions and all."""
        if self.directives or self._fast_extensions is None:
            return await super().execute(query, variable_values, context_value, root_value, operation_name,
                                         allowed_operation_types, operation_extensions)
        context = self._create_execution_context(
            query=query, allowed_operation_types=allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES,
            variable_values=variable_values, context_value=context_value, root_value=root_value,
            operation_name=operation_name, operation_extensions=operation_extensions)
        document = context.graphql_document
        if document is None or context.pre_execution_errors:
            return await super().execute(query, variable_values, context_value, root_value, operation_name,
                                         allowed_operation_types, operation_extensions)
        try:
            operation_type = context.operation_type
        except RuntimeError as error:
            raise CannotGetOperationTypeError(context.operation_name) from error
        if operation_type not in context.allowed_operations:
            raise InvalidOperationTypeError(operation_type)
        try:
            # graphql-core's `execute` without its per-request look-up of @defer and @stream in the
            # schema (`_incremental`, once per schema) nor the frame wrapping an awaited result; the
            # resolver-less middleware manager is shared (it keeps nothing per request when empty).
            run = execute if self._incremental else experimental_execute_incrementally
            outcome = run(self._schema, document, root_value=context.root_value, middleware=_NO_MIDDLEWARE,
                          variable_values=context.variables, operation_name=context.operation_name,
                          context_value=context.context,
                          is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                          executor_class=self.execution_context_class,
                          operation_extensions=operation_extensions)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        except Exception as exc:  # as strawberry: an escape is the operation's one error, masked below
            outcome = GraphQLExecutionResult(data=None, errors=[exc if isinstance(exc, GraphQLError)
                                                                else GraphQLError(str(exc), original_error=exc)])
        if not isinstance(outcome, GraphQLExecutionResult):  # incremental delivery: as strawberry hands it on
            return outcome  # type: ignore[return-value]
        result = ExecutionResult(data=outcome.data, errors=outcome.errors, extensions={})
        context.result = result
        if result.errors:
            context.pre_execution_errors = result.errors
            self._process_errors(result.errors, context)  # logged as raised, then masked for the caller
            result.errors = mask_errors(result.errors, getattr(context.context, "request_id", None))
        return result

    async def stream(self, query: str | None, variable_values: dict[str, Any] | None = None,
                     context_value: Any | None = None, root_value: Any | None = None,
                     operation_name: str | None = None, operation_extensions: dict[str, Any] | None = None,
                     allowed_operation_types: Iterable[StrawberryOperationType] | None = None) -> Any:
        """strawberry's `stream` (WebSocket and SSE operations), with a subscription whose document the
        cache parsed and validated cleanly run by `_subscription`: what a running subscription keeps
        (thousands per process, for hours) is its resolver's generator and one frame, not strawberry's
        execution context, extension runner and stream generators nor graphql-core's executor and
        mapped iterator. Anything else takes strawberry's own path."""
        if not self.directives and self._fast_extensions is not None:
            context = self._create_execution_context(
                query=query, allowed_operation_types=allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES,
                variable_values=variable_values, context_value=context_value, root_value=root_value,
                operation_name=operation_name, operation_extensions=operation_extensions)
            document = context.graphql_document
            if document is not None and not context.pre_execution_errors:
                try:
                    operation_type = context.operation_type
                except RuntimeError:
                    operation_type = None
                if (operation_type is StrawberryOperationType.SUBSCRIPTION
                        and operation_type in context.allowed_operations):
                    return _SubscriptionStream(self, document, context.context, context.root_value,
                                               context.variables, context.operation_name, operation_extensions)
        return await super().stream(query, variable_values, context_value, root_value, operation_name,
                                    operation_extensions, allowed_operation_types)

    @functools.cached_property
    def _incremental(self) -> bool:
        """Whether the schema declares @defer or @stream (graphql-core's `execute` refuses those)."""
        return bool(self._schema.get_directive("defer") or self._schema.get_directive("stream"))

    @functools.cached_property
    def _fast_extensions(self) -> tuple[()] | None:
        """() when the only schema extension is the error mask (which `execute` applies itself), else None."""
        if all(isinstance(e, functools.partial) and e.func is _MaskErrors for e in self.extensions):
            return ()
        return None

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """An expected error (the client's syntax or validation mistake, a refusal, a domain rule) is
        one log line without a traceback: strawberry's default logs each with its stack, 1.5 KB for a
        33-byte request. Anything else keeps its traceback (bounded by infra.logging)."""
        for error in errors:
            if should_mask(error):
                super().process_errors([error], execution_context)
            else:
                code = (error.extensions or {}).get("code") or getattr(error.original_error, "code", None)
                log.info("graphql.error", code=code or "GRAPHQL_VALIDATION_FAILED", message=error.message[:200],
                         path=".".join(str(p) for p in error.path or ()) or None)
            _drop_tracebacks(error)


def _drop_tracebacks(error: BaseException) -> None:
    """Once logged, an error's traceback (and its causes') is not needed, and it held the frames that
    raised it, which hold the executor that holds the error: a cycle that left the whole operation
    to the cyclic garbage collector."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__cause__, current.__context__, getattr(current, "original_error", None)]


class _StrawberryContext(ExecutorThrowingOnIncremental):
    """strawberry's execution context (StrawberryGraphQLCoreExecutionContext: the operation's extensions
    kept and handed to every resolve info) on graphql-core's executor without incremental delivery, the
    one graphql-core's own `subscribe` uses. strawberry builds its context on IncrementalExecutor for
    @defer and @stream, which this schema does not declare (a document using them fails validation);
    that executor still made per operation the bookkeeping for them (execution plan maps, delivery
    groups, a response builder over them): CPU on every request, and memory held by every running
    subscription, whose executor lives as long as it does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        operation_extensions = kwargs.pop("operation_extensions", None)
        super().__init__(*args, **kwargs)
        self.operation_extensions = operation_extensions

    def build_resolve_info(self, field_def: Any, field_nodes: Any, parent_type: Any, path: Any) -> Any:
        # strawberry's own (it reads only attributes every graphql-core executor has)
        return StrawberryGraphQLCoreExecutionContext.build_resolve_info(
            self, field_def, field_nodes, parent_type, path)  # type: ignore[arg-type]


class _Executor(_StrawberryContext):
    """strawberry's executor, running a broadcast subscription event (`schema.events.Shared`) once
    per operation and variables for all its subscribers: the same document text is the same parsed
    operation (DocumentCache), and a broadcast's value does not depend on who receives it.
    Plain leaf fields (schema/plain_fields.py) skip the generic per-field machinery."""

    plan: ClassVar[Plan] = {}
    nested: ClassVar[NestedPlan] = {}
    once: ClassVar[OncePlan] = {}  # fields whose permission is checked once per operation (resolve is None)
    check: ClassVar[bool] = False  # also resolve each plain field generically and compare (tests)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._operation_state()
        # graphql-core hands resolvers helpers bound to the executor (self.async_helpers holds
        # self.gather_async_work and self.track_async_work): a reference cycle, so every operation's
        # executor, with its context, request and collected selections (about 170 objects for a
        # portal page), was left to the cyclic garbage collector, which paused the loop to find them
        # (one older-generation collection took 137 ms of CPU at 32 concurrent pages). The same
        # helpers holding the executor weakly: an operation's objects are freed when it ends.
        self.async_helpers = _weak_helpers(weakref.ref(self))

    def _operation_state(self) -> None:
        """What this operation execution alone may remember: its permission decisions (by parent type
        and field; they depend on the caller, who may change between a subscription's events) and its
        compiled selections. A subscription's per-event executor is a copy of the subscription's: it
        starts afresh, so each event is decided for the caller as they are then."""
        self._decisions: dict[tuple[str, str], bool] = {}
        self.__dict__.pop("_plain_rows", None)
        # the fields in `once` have no resolve of their own: graphql-core calls this for them (a partial
        # over the decisions, not a bound method: no cycle through the executor)
        self.field_resolver = functools.partial(_resolve_once, self.once, self._decisions)

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, _Executor)
        executor._operation_state()
        return executor

    def execute_field(self, parent_type: Any, source: Any, field_details_list: Any, path: Any,
                      position_context: Any) -> Any:
        node = field_details_list[0].node
        step = self.plan.get((parent_type.name, node.name.value))
        middleware = self.middleware_manager  # strawberry always passes one; it may wrap nothing
        if step is None or node.arguments or (middleware is not None and middleware.middlewares):
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        value = resolve_plain(step, source)
        if value is Undefined:
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        if self.check:
            generic = super().execute_field(parent_type, source, field_details_list, path, position_context)
            if generic != value:
                raise AssertionError(f"plain field {parent_type.name}.{node.name.value}: {value!r} != {generic!r}")
        return value

    def _rows(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> _Rows:
        # A selection is collected once per operation and shared by every object of a list, so
        # how much of it is plain is decided once per operation (by identity) and reused per row.
        rows = self.__dict__.setdefault("_plain_rows", {})
        known = rows.get(id(grouped_field_set))
        if known is None or known[0] is not grouped_field_set:
            middleware = self.middleware_manager
            known = rows[id(grouped_field_set)] = (grouped_field_set, _Rows() if (
                middleware is not None and middleware.middlewares) else self._rows_of(parent_type, grouped_field_set))
        found: _Rows = known[1]
        return found

    def _rows_of(self, parent_type: GraphQLObjectType, grouped_field_set: dict[str, Any]) -> _Rows:
        steps = {name: self._step(parent_type, details, 0) for name, details in grouped_field_set.items()}
        plain = {name: details for name, details in grouped_field_set.items() if steps[name] is not None}
        if len(plain) == len(grouped_field_set):
            return _Rows(whole=compiled_row([(name, steps[name]) for name in plain]), plain=plain)  # type: ignore[misc]
        if len(plain) < 2:
            return _Rows()
        rest = {name: details for name, details in grouped_field_set.items() if name not in plain}
        return _Rows(part=compiled_row([(name, steps[name]) for name in plain]),  # type: ignore[misc]
                     plain=plain, rest=rest, order=tuple(grouped_field_set))

    def _step(self, parent_type: GraphQLObjectType, details: Any, depth: int) -> Step | NestedStep | None:
        """How a compiled row reads this field: a leaf's step, a nested object's compiled selection
        (schema/plain_fields.py nested_fields), or None for the generic path."""
        node = details[0].node
        if node.arguments:
            return None
        key = (parent_type.name, node.name.value)
        leaf = self.plan.get(key)
        if leaf is not None:
            return leaf
        nested = self.nested.get(key)
        if nested is None or depth > 8 or any(d.node.directives for d in details):
            return None
        collected = self.collect_subfields(nested.item, details)
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            return None
        sub = [(name, self._step(nested.item, d, depth + 1)) for name, d in collected.grouped_field_set.items()]
        if not sub or any(step is None for _, step in sub):
            return None
        if nested.permissions and not self._permitted(parent_type, details, nested.permissions):
            return None  # refused (or undecided): each object takes the generic path and its error
        definition = nested.item.extensions.get("strawberry-definition")
        return NestedStep(nested.attribute, compiled_row(sub), getattr(definition, "origin", None),  # type: ignore[arg-type]
                          nested.item.is_type_of, nested.is_list, nested.non_null, nested.items_non_null,
                          nested.prefetched)

    def _permitted(self, parent_type: GraphQLObjectType, details: Any, permissions: tuple[Any, ...]) -> bool:
        """The field's object-independent permissions, decided once for this operation (as for a field
        resolved generically: `_resolve_once`); refused, the generic path refuses each object as before."""
        key = (parent_type.name, details[0].node.name.value)
        allowed = self._decisions.get(key)
        if allowed is None:
            nodes = [d.node for d in details]
            field_def = parent_type.fields[key[1]]
            raw = self.build_resolve_info(field_def, nodes, parent_type,
                                          Path(None, (nodes[0].alias or nodes[0].name).value, parent_type.name))
            info = Info(_raw_info=raw, _field=field_def.extensions["strawberry-definition"])
            allowed = self._decisions[key] = decide(permissions, info)
        return allowed

    def _row_function(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> RowFunction | None:
        return self._rows(parent_type, grouped_field_set).whole

    def execute_fields(self, parent_type: Any, source_value: Any, path: Any, grouped_field_set: Any,
                       position_context: Any) -> Any:
        rows = self._rows(parent_type, grouped_field_set)
        row = rows.whole or rows.part
        value = row(source_value) if row is not None else None
        if value is None:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        if self.check:  # the plain fields both ways (the others run once, as they may record errors)
            generic = super().execute_fields(parent_type, source_value, path, rows.plain, position_context)
            if generic != value:
                raise AssertionError(f"plain row {parent_type.name}: {value!r} != {generic!r}")
        if rows.part is None:
            return value
        # the plain fields at once, the others generically, merged in selection order
        return _merged(rows.order, value, super().execute_fields(parent_type, source_value, path, rows.rest,
                                                                 position_context), self.is_awaitable)

    def complete_iterable_value(self, item_type: Any, field_details_list: Any, info: Any, path: Any,
                                items: Any, position_context: Any) -> Any:
        """A list of objects whose selection is all plain (a page of deals) in one loop: per item one
        type check and one compiled row, instead of graphql-core's five calls per item before the
        fields. Anything else (or any item the row function declines) takes the generic path."""
        non_null = isinstance(item_type, GraphQLNonNull)
        object_type = item_type.of_type if non_null else item_type
        if isinstance(object_type, GraphQLObjectType) and type(items) is list and items and not any(
                details.node.directives for details in field_details_list):
            grouped_field_set = self.collect_subfields(object_type, field_details_list)[0]
            row = self._row_function(object_type, grouped_field_set)
            if row is not None:
                completed = _complete_rows(row, object_type, info, items, non_null)
                if completed is not None:
                    if self.check:
                        generic = super().complete_iterable_value(item_type, field_details_list, info, path,
                                                                  items, position_context)
                        if generic != completed:
                            raise AssertionError(f"plain list of {object_type.name}: {completed!r} != {generic!r}")
                    return completed
        return super().complete_iterable_value(item_type, field_details_list, info, path, items,
                                               position_context)

    def execute_operation(self, serially: bool | None = None) -> Any:
        root = self.root_value
        if type(root) is not Shared:
            return super().execute_operation(serially)
        key = _shared_key(self.operation, self.variable_values.coerced)
        result = root.results.get(key)
        if result is None:
            self.root_value = root.value
            result = super().execute_operation(serially)
            if inspect.isawaitable(result):
                result = asyncio.ensure_future(result)  # awaited by each subscriber, run once
            root.results[key] = result
        return result


class _SubscriptionStream:
    """A subscription's results as strawberry's stream yields them (a refusal before it starts as a
    PreExecutionError; each event's result, errors logged then masked; an error raised by the source
    ends it as a last result), keeping between events only these slots and the resolver's generator:
    no executor (each event is executed by one of its own, and a broadcast's (`Shared`) result, made
    once, is reused without one), and not itself a generator (a frame, and an entry in the loop's set
    of async generators, per subscription)."""

    __slots__ = ("_context", "_document", "_done", "_extensions", "_operation_name", "_root", "_schema",
                 "_shared_key", "_source", "_variables")

    def __init__(self, schema: ApiSchema, document: Any, context: Any, root_value: Any,
                 variables: dict[str, Any] | None, operation_name: str | None,
                 extensions: dict[str, Any] | None) -> None:
        self._schema, self._document, self._context, self._root = schema, document, context, root_value
        self._variables, self._operation_name, self._extensions = variables, operation_name, extensions
        self._source: Any = None
        self._shared_key: tuple[int, bytes] = (0, b"")
        self._done = False

    def __aiter__(self) -> _SubscriptionStream:
        return self

    def _build(self, payload: Any) -> Any:
        schema = self._schema
        return schema.execution_context_class.build(
            schema._schema, self._document, payload, self._context, self._variables, self._operation_name,
            middleware=_NO_MIDDLEWARE, is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
            operation_extensions=self._extensions)

    def _result(self, result: ExecutionResult) -> ExecutionResult:
        """Errors logged as raised, then masked for the caller (as strawberry's stream does)."""
        if result.errors:
            self._schema._process_errors(result.errors, None)
            result.errors = mask_errors(result.errors, getattr(self._context, "request_id", None))
        return result

    async def _last(self, errors: list[GraphQLError], *, before: bool) -> ExecutionResult:
        await self.aclose()
        kind = PreExecutionError if before else ExecutionResult
        return self._result(kind(data=None, errors=errors, extensions={}))

    async def _start(self) -> ExecutionResult | None:
        """Resolve the source stream (the resolver's generator), or the refusal to (its own frame:
        the executor it builds is not kept while the first event is awaited)."""
        try:
            executor = self._build(self._root)
            if isinstance(executor, list):  # the variables do not coerce
                return await self._last(executor, before=True)
            source = create_source_event_stream(executor)
            if executor.is_awaitable(source):
                source = await source  # type: ignore[misc]
        except Exception as exc:
            return await self._last([_coerce_error(exc)], before=True)
        if isinstance(source, GraphQLExecutionResult):  # refused as it started (a permission, an argument)
            return await self._last(list(source.errors or ()), before=True)
        self._source, self._root = source, None
        self._shared_key = _shared_key(executor.operation, executor.variable_values.coerced)
        return None

    async def __anext__(self) -> ExecutionResult:
        if self._done:
            raise StopAsyncIteration
        source: Any = self._source
        if source is None:
            refused = await self._start()
            if refused is not None:
                return refused
            source = self._source
        try:
            payload = await source.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except Exception as exc:  # graphql-core leaves an error the source raised to the stream (as strawberry)
            return await self._last([_coerce_error(exc)], before=False)
        try:
            result: Any = None
            if type(payload) is Shared:
                result = payload.results.get(self._shared_key)
            if result is None:
                result = self._build(payload)
                if isinstance(result, list):
                    result = GraphQLExecutionResult(data=None, errors=result)
                else:
                    result = result.execute_operation(False)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            return await self._last([_coerce_error(exc)], before=False)
        return self._result(ExecutionResult(data=result.data, errors=result.errors, extensions={}))

    async def aclose(self) -> None:
        self._done = True
        source, self._source = self._source, None
        close = getattr(source, "aclose", None)
        if close is not None:
            await close()


def _shared_key(operation: Any, coerced: dict[str, Any] | None) -> tuple[int, bytes]:
    """What a broadcast's result is kept under (`Shared.results`): the operation (a cached document's
    node, the same object for the same text) and its variables."""
    return id(operation), orjson.dumps(coerced, option=orjson.OPT_SORT_KEYS, default=str) if coerced else b""


def _coerce_error(error: Exception) -> GraphQLError:
    return error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)


def _resolve_once(plan: OncePlan, decisions: dict[tuple[str, str], bool], source: Any, info: Any,
                  **kwargs: Any) -> Any:
    """A field in `plan`: its permissions decided once for the operation, then for every object its
    resolver without the check (allowed) or with it (refused: each object refused as before)."""
    key = (info.parent_type.name, info.field_name)
    once = plan.get(key)
    if once is None:
        return default_field_resolver(source, info, **kwargs)
    allowed = decisions.get(key)
    if allowed is None:
        allowed = decisions[key] = decide(once.permissions, Info(_raw_info=info, _field=once.definition))
    return (once.unchecked if allowed else once.checked)(source, info, **kwargs)


class _WeakHelpers:
    """graphql-core's resolver helpers (`info.async_helpers`) without a strong reference to the
    executor. Resolvers call them only while the operation runs, when the executor is alive. (An
    object with two methods rather than two closures: a running subscription's resolve info keeps
    them for as long as it runs.)"""

    __slots__ = ("_executor",)

    def __init__(self, executor: weakref.ref[_Executor]) -> None:
        self._executor = executor

    def gather(self, values: Sequence[Any]) -> Any:
        live = self._executor()
        return live.gather_async_work(values) if live is not None else gather_with_cancel(*values)

    def track(self, values: Sequence[Any]) -> None:
        live = self._executor()
        if live is None:  # cannot happen while a resolver runs; never drop the work unobserved
            raise RuntimeError("the operation's executor is gone")
        live.track_async_work(values)


def _weak_helpers(executor: weakref.ref[_Executor]) -> GraphQLResolveInfoHelpers:
    helpers = _WeakHelpers(executor)
    return GraphQLResolveInfoHelpers(gather=helpers.gather, track=helpers.track)


class _Rows:
    """How a selection is completed: `whole` when every field is plain; else `part` for its `plain`
    fields (when there are at least two) with `rest` left to the generic path, merged in `order`."""

    __slots__ = ("order", "part", "plain", "rest", "whole")

    def __init__(self, whole: RowFunction | None = None, part: RowFunction | None = None,
                 plain: dict[str, Any] | None = None, rest: dict[str, Any] | None = None,
                 order: tuple[str, ...] = ()) -> None:
        self.whole, self.part, self.order = whole, part, order
        self.plain: dict[str, Any] = plain or {}
        self.rest: dict[str, Any] = rest or {}


def _merged(order: tuple[str, ...], plain: dict[str, Any], generic: Any, is_awaitable: Any) -> Any:
    if is_awaitable(generic):
        async def later() -> dict[str, Any]:
            return _in_order(order, plain, await generic)
        return later()
    return _in_order(order, plain, generic)


def _in_order(order: tuple[str, ...], plain: dict[str, Any], generic: dict[str, Any]) -> dict[str, Any]:
    # graphql-core leaves out a field that resolved to Undefined; so does this.
    return {name: plain[name] if name in plain else generic[name] for name in order
            if name in plain or name in generic}


def _complete_rows(row: RowFunction, object_type: GraphQLObjectType, info: Any, items: list[Any],
                   non_null: bool) -> list[Any] | None:
    is_type_of = object_type.is_type_of
    # An object of exactly the type's class needs no is_type_of call (as in compiled nested rows).
    origin = getattr(object_type.extensions.get("strawberry-definition"), "origin", None)
    completed: list[Any] = []
    for item in items:
        if item is None:
            if non_null:
                return None
            completed.append(None)
            continue
        if type(item) is not origin and is_type_of is not None and is_type_of(item, info) is not True:
            return None
        value = row(item)
        if value is None:
            return None
        completed.append(value)
    return completed


class _NoSuggestionsExecutor(_Executor):
    """Execution without "Did you mean ...?" in variable coercion errors (enum values, input
    fields): used when introspection is off, as the document cache's validation is."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)


def mask_errors(errors: list[GraphQLError], request_id: str | None) -> list[GraphQLError]:
    """What the caller sees of an operation's errors: unexpected ones masked (with the request id to
    quote), expected ones with their input code."""
    return [internal_error(e, request_id) if should_mask(e) else with_input_code(e) for e in errors]


class _MaskErrors(MaskErrors):
    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return mask_errors(errors, getattr(self.execution_context.context, "request_id", None))

    def _process_result(self, result: object) -> None:
        # The same test as strawberry's (has errors), without isinstance against a runtime-checkable
        # Protocol: that alone cost about 45 us on every request.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


def api_schema(settings: Settings, *, query: type, mutation: type | None = None, subscription: type | None = None,
               types: Sequence[type] = ()) -> ApiSchema:
    # A factory, not an instance: strawberry would share one MaskErrors across concurrent
    # requests, and one request's errors could be read against another's (left unmasked).
    masking = functools.partial(_MaskErrors, should_mask_error=should_mask)
    built = ApiSchema(query=query, mutation=mutation, subscription=subscription, types=types,
                      extensions=[masking], config=StrawberryConfig(auto_camel_case=True),
                      scalar_overrides={Decimal: DECIMAL_OVERRIDE}, documents=document_cache(settings),
                      execution_context_class=_Executor if settings.introspection_enabled else _NoSuggestionsExecutor)
    # The plain fields are known only once strawberry has built the graphql-core schema.
    base = built.execution_context_class
    roots = {t.name for t in (built._schema.query_type, built._schema.mutation_type,
                              built._schema.subscription_type) if t is not None}
    once = checked_once(built._schema, built.schema_converter, tuple(roots))
    built.execution_context_class = type(base.__name__, (base,), {
        "plan": plain_fields(built._schema), "nested": nested_fields(built._schema), "once": once,
        "check": settings.executor_check})
    for parent, name in once:  # graphql-core then calls the executor's field_resolver: `_resolve_once`
        built._schema.type_map[parent].fields[name].resolve = None  # type: ignore[attr-defined]
    return built


def build_schema(settings: Settings) -> ApiSchema:
    queries, mutations, subscriptions, extra_types = _discover()
    return api_schema(
        settings,
        query=merge_types("Query", tuple(queries)),
        mutation=merge_types("Mutation", tuple(mutations)) if mutations else None,
        subscription=merge_types("Subscription", tuple(subscriptions)) if subscriptions else None,
        types=extra_types,
    )


def export_sdl() -> str:
    """The SDL with development settings (limits do not change the schema's shape)."""
    return build_schema(Settings(introspection=True)).as_str() + "\n"
