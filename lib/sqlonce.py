"""A fixed-shape ORM query compiled to SQL once per process, then run with each call's values.

Building and compiling a QuerySet (filters, aggregates with FILTER clauses, subqueries) costs more Python than
PostgreSQL spends running a small query (docs/performance.md, issue 20). For a page query whose shape never
changes — only the member's id does — `rows(build, member_id)` asks `build(SENTINEL)` for the QuerySet once per
process and database vendor, keeps its SQL and parameters, and on every call sends that SQL with the sentinel
replaced by the real value. The rows are the plain tuples of the database driver: use it for values whose
driver type is already the Python type (integers, text), not for dates or decimals on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import QuerySet

# Stands for the one varying value while the SQL is compiled (never a real id).
SENTINEL = -7_356_915_017

Build = Callable[[int], QuerySet[Any, Any]]


@lru_cache(maxsize=64)
def _compiled(vendor: str, build: Build) -> tuple[str, tuple[Any, ...]]:
    query = build(SENTINEL).query
    sql, params = query.get_compiler(connection=connection).as_sql()
    if SENTINEL not in params:
        raise ValueError(f"{build.__qualname__}: the query does not take the value")
    return sql, tuple(params)


def rows(build: Build, value: int) -> list[tuple[Any, ...]]:
    """The rows of `build(value)`'s query (one round trip), its SQL compiled once per process."""
    sql, params = _compiled(connection.vendor, build)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value if p == SENTINEL else p for p in params])
        return cursor.fetchall()
