"""Append-only tables: rows are written once and never updated or deleted (docs/program-rules.md G4).

Two layers hold it:
- the ORM: `AppendOnlyMixin` (first base of the model) refuses `save()` of a stored row and `delete()`, and its
  manager's querysets refuse `update()`, `delete()` and `bulk_update()`, on every database;
- PostgreSQL: a row trigger created by a migration (`append_only_sql`) refuses UPDATE and DELETE from any client,
  raw SQL included. TRUNCATE (test flushes) is not a row event and stays possible for the operator.
"""

from __future__ import annotations

from django.db import models

from lib.errors import DomainError


class AppendOnlyError(DomainError):
    """An attempt to change or remove a row of an append-only table."""

    code = "APPEND_ONLY"

    def __init__(self, table: str) -> None:
        super().__init__(f"{table} is append-only: add a correcting row instead of changing or deleting one.")


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(self.model._meta.db_table)

    def delete(self):
        raise AppendOnlyError(self.model._meta.db_table)

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError(self.model._meta.db_table)

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        raise AppendOnlyError(self.model._meta.db_table)


AppendOnlyManager = models.Manager.from_queryset(AppendOnlyQuerySet)


class AppendOnlyMixin:
    """Put first among a model's bases, and set `objects = AppendOnlyManager()`."""

    _meta: models.options.Options
    _state: models.base.ModelState

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError(self._meta.db_table)
        super().save(*args, **kwargs)  # type: ignore[misc]

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(self._meta.db_table)


def append_only_sql(table: str) -> tuple[str, str]:
    """(forward, reverse) PostgreSQL for a migration: a trigger that refuses UPDATE and DELETE on `table`."""
    forward = f"""
CREATE OR REPLACE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
"""
    reverse = f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};"
    return forward, reverse


def append_only_trigger(table: str):
    """A migration operation installing the trigger on PostgreSQL (other databases rely on the ORM guard)."""
    from django.db import migrations

    forward, reverse = append_only_sql(table)

    def run(sql: str):
        def apply(apps, schema_editor) -> None:
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(sql, params=None)

        return apply

    return migrations.RunPython(run(forward), run(reverse))
