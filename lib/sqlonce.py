"""A fixed-shape ORM query compiled to SQL once per connection, then run with each call's values.

Building and compiling a QuerySet (filters, aggregates with FILTER clauses, subqueries) costs more Python than
PostgreSQL spends running a small page query (docs/performance.md, issue 20). For a query whose shape never
changes — only a member's id, a time, a country do — `rows(build, *values)` asks `build(*sentinels)` for the
QuerySet once per database connection (so once per worker thread and process), keeps its SQL, where each
sentinel landed among the parameters and the fields' converters, and on every call sends that SQL with the
sentinels replaced by the values, adapted as the ORM adapts them (datetimes, dates). `instances` makes model
instances the way the ORM's ModelIterable does, `select_related` objects and annotations included.

`build` must use each value only as a lookup's right-hand side (`filter(referrer_id=v)`, `expires_at__gt=v`),
not in Python arithmetic or in slicing; pass a computed bound as a value of its own. A value the compiled
parameters do not contain exactly once per use is refused when the SQL is compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

Build = Callable[..., QuerySet[Any, Any]]


def _sentinel(index: int, value: object) -> object:
    """A value of `value`'s type that no real call uses, distinct per position."""
    if isinstance(value, bool):
        raise TypeError("sqlonce: a boolean changes the SQL's shape, not a parameter")
    if isinstance(value, int):
        return -7_356_915_017 - index
    if isinstance(value, str):
        return f"\x00sqlonce-{index}"
    if isinstance(value, datetime):
        return datetime(1901, 2, 3, 4, 5, 6, 700_000 + index, tzinfo=UTC)
    if isinstance(value, date):
        return date(1901, 2, 3 + index)
    raise TypeError(f"sqlonce: no sentinel for {type(value).__name__}")


def _adapt(connection: Any, value: object) -> object:
    """A value as the ORM sends it for a DateTimeField / DateField lookup (SQLite: text; PostgreSQL: itself)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    return value


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[int | None, ...]  # for each parameter: the index of the value it takes, or None (a constant)
    converters: dict[int, Any]
    compiler: Any
    model: type[Model] | None
    attnames: tuple[str, ...]
    model_columns: slice  # where the model's own fields are in a row
    related: tuple[Any, ...]  # Django's RelatedPopulators: the select_related objects of a row
    annotations: tuple[tuple[str, int], ...]  # (attribute, column) of each annotation


def _compile(connection: Any, build: Build, values: tuple[object, ...]) -> _Compiled:
    sentinels = [_sentinel(i, v) for i, v in enumerate(values)]
    queryset = build(*sentinels)
    compiler = queryset.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    adapted = [_adapt(connection, s) for s in sentinels]
    slots: list[int | None] = []
    for p in params:
        found = [i for i, a in enumerate(adapted) if type(p) is type(a) and p == a]
        slots.append(found[0] if found else None)
    for i in range(len(values)):
        if i not in slots:
            raise ValueError(f"sqlonce: {build.__qualname__} does not use value {i} as a parameter")
    select = [column for column, _sql, _alias in compiler.select]
    converters = compiler.get_converters(select)
    model: type[Model] | None = None
    attnames: tuple[str, ...] = ()
    model_columns = slice(0)
    related: tuple[Any, ...] = ()
    annotations: tuple[tuple[str, int], ...] = ()
    klass_info = compiler.klass_info
    if klass_info is not None and not queryset.query.values_select:
        # What ModelIterable reads off the compiler once per query (django/db/models/query.py).
        model = klass_info["model"]
        fields = klass_info["select_fields"]
        model_columns = slice(fields[0], fields[-1] + 1)
        attnames = tuple(column.target.attname for column, _sql, _alias in compiler.select[model_columns])
        # Django 5.2's signature (the stubs describe a later one with a fetch mode).
        related = tuple(get_related_populators(klass_info, compiler.select, connection.alias))  # type: ignore[call-arg]
        annotations = tuple(compiler.annotation_col_map.items())
    return _Compiled(
        sql, tuple(params), tuple(slots), converters, compiler, model, attnames, model_columns, related, annotations
    )


def _run(
    build: Build, values: tuple[object, ...], limit: int | None, offset: int | None = None
) -> tuple[_Compiled, list[Any]]:
    connection = connections[DEFAULT_DB_ALIAS]  # the thread's own connection object, which keeps the cache
    cache = connection.__dict__.setdefault("_sqlonce", {})
    key = (build, len(values))  # a list of ids (`pk__in`) compiles once per length
    compiled = cache.get(key)
    if compiled is None:
        compiled = cache[key] = _compile(connection, build, values)
    params: list[Any] = [
        p if slot is None else _adapt(connection, values[slot])
        for p, slot in zip(compiled.params, compiled.slots, strict=True)
    ]
    sql = compiled.sql
    if limit is not None:
        sql, params = f"{sql} LIMIT %s", [*params, limit]
    if offset:
        sql, params = f"{sql} OFFSET %s", [*params, offset]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    if compiled.converters:
        fetched = list(compiled.compiler.apply_converters(fetched, compiled.converters))
    return compiled, fetched


def rows(build: Build, *values: object, limit: int | None = None) -> list[tuple[Any, ...]]:
    """The rows of `build(*values)` (a `values_list` query), converted as the ORM converts them; `limit` adds a
    LIMIT (the query must not be sliced). One round trip; the SQL compiled once per connection."""
    _compiled, fetched = _run(build, values, limit)
    return [tuple(row) for row in fetched]


def instances(build: Build, *values: object, limit: int | None = None, offset: int | None = None) -> list[Any]:
    """The model instances of `build(*values)`, as the ORM makes them: `only()`, `select_related` (the related
    objects set on each instance) and annotations (set as attributes) included; `prefetch_related` is not run.
    `limit` / `offset` page the rows (the query must not be sliced). One round trip; the SQL compiled once per
    connection."""
    compiled, fetched = _run(build, values, limit, offset)
    model = compiled.model
    if model is None:
        raise ValueError(f"sqlonce: {build.__qualname__} is not a query of model instances")
    from_db, alias, columns = model.from_db, connections[DEFAULT_DB_ALIAS].alias, compiled.model_columns
    objects = []
    for row in fetched:
        obj = from_db(alias, compiled.attnames, tuple(row[columns]))
        for populator in compiled.related:
            populator.populate(row, obj)
        for attribute, column in compiled.annotations:
            setattr(obj, attribute, row[column])
        objects.append(obj)
    return objects
