"""Admin building blocks shared by the apps."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import helpers
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext


class ReadOnlyAdminMixin:
    """No adding, editing or deleting in place: history is append-only, states and amounts change
    only through audited actions that call services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# Below this many rows an unfiltered changelist is counted exactly; above it, the planner's estimate is used.
ESTIMATE_COUNT_ABOVE = 100_000


class EstimatedCountPaginator(Paginator):
    """Changelists of the biggest tables (referrals, coupons, members, ledger, clicks): an UNFILTERED list is
    counted with PostgreSQL's planner estimate (`pg_class.reltuples`, kept fresh by autovacuum) once the table
    holds more than ESTIMATE_COUNT_ABOVE rows, instead of a COUNT(*) that reads the whole table on every page
    (docs/performance.md). Filtered lists, smaller tables and other databases are counted exactly."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                        [queryset.model._meta.db_table],
                    )
                    row = cursor.fetchone()
                if row and row[0] > ESTIMATE_COUNT_ABOVE:
                    return int(row[0])
        return super().count


# Django's own admin string (translated by Django's catalog, not ours: a variable, so makemessages skips it).
_SELECT_FOR_ACTION = "Select this object for an action - {}"


class BigTableAdminMixin:
    """Changelist settings for tables that grow without bound: no COUNT(*) of everything on each page (the
    planner's estimate for an unfiltered list, and no "N total" beside a filtered one). Such changelists use
    a date list filter rather than a date hierarchy, whose year/month links read every row's date.

    The row checkbox is written directly: Django renders a `CheckboxInput` through the form template renderer
    for every row (a quarter of a 100-row changelist's time at scale), for the same HTML."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Rendering a row costs ~1 ms of Python per page whatever the table size (a dozen cells through the admin's
    # display machinery): 50 rows keep a page under 100 ms. Search, filters and paging find the rest.
    list_per_page = 50

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj) -> SafeString:
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(gettext(_SELECT_FOR_ACTION), str(obj)),
        )


class NonBlankValuesListFilter(admin.AllValuesFieldListFilter):
    """Django's "all values" filter without the blank value (an empty link has no name for a screen reader)."""

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = [value for value in self.lookup_choices if value not in ("", None)]
