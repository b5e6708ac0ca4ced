"""Many rows in one INSERT without building a model instance per row (the sweeps' batches).

`bulk_create` costs about as much Python per row as PostgreSQL spends inserting it (an instance, then
every field prepared one value at a time, then one placeholder per value for psycopg to parse). On
PostgreSQL this sends one array per column and inserts `SELECT * FROM unnest(...)`: a fixed number of
parameters whatever the batch size. Elsewhere (SQLite in development and tests) it is a plain multi-row
VALUES INSERT with every value prepared by its field. The caller gives every NOT NULL column: model
defaults are Python-side and are not applied here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models

# SQLite's default limit on bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
_SQLITE_MAX_PARAMS = 32766


def _field(model: type[models.Model], name: str) -> models.Field:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: Sequence[str] = (),
    ignore_conflicts: bool = False,
) -> list[tuple]:
    """INSERT `rows` (values in the order of `fields`) into `model`'s table; returns the `returning` columns of
    the inserted rows (match them by a returned column, not by position)."""
    if not rows:
        return []
    meta = model._meta
    columns = [_field(model, name) for name in fields]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(str(c.column)) for c in columns)}) "
    tail = (" ON CONFLICT DO NOTHING" if ignore_conflicts else "") + (
        f" RETURNING {', '.join(quote(str(_field(model, name).column)) for name in returning)}" if returning else ""
    )
    found: list[tuple] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{column.db_type(connection)}[]" for column in columns)
            # Table and column names come from the model, never from input; every value is a parameter.
            statement = f"{head}SELECT * FROM unnest({arrays}){tail}"  # noqa: S608
            cursor.execute(statement, [list(values) for values in zip(*rows, strict=True)])
            return list(cursor.fetchall()) if returning else []
        per_statement = max(1, _SQLITE_MAX_PARAMS // len(columns))
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                column.get_db_prep_save(value, connection)
                for row in chunk
                for column, value in zip(columns, row, strict=True)
            ]
            cursor.execute(f"{head}VALUES {', '.join([one] * len(chunk))}{tail}", params)
            if returning:
                found.extend(cursor.fetchall())
    return found
