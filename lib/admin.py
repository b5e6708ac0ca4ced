"""Admin building blocks shared by the apps."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyAdminMixin:
    """No adding, editing or deleting in place: history is append-only, states and amounts change
    only through audited actions that call services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class NonBlankValuesListFilter(admin.AllValuesFieldListFilter):
    """Django's "all values" filter without the blank value (an empty link has no name for a screen reader)."""

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = [value for value in self.lookup_choices if value not in ("", None)]
