"""Helpers for translated words that are defined once, at import, and read later in the reader's language.

`gettext_lazy("… %(n)s …") % {...}` would format (and so translate) at import time, in English;
`lazy_format` keeps the message lazy until it is shown, so the words of a rule can live in a module
constant and still reach each reader in their own language.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.utils import formats, timezone
from django.utils.functional import Promise, lazy

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _format(message: StrOrPromise, values: Mapping[str, Any]) -> str:
    return str(message) % {key: str(value) if isinstance(value, Promise) else value for key, value in values.items()}


# lazy_format(gettext_lazy("… %(limit)s …"), {"limit": 4}): translated and formatted each time it is read.
lazy_format = lazy(_format, str)


def local_date(value: datetime | date) -> str:
    """A date (or the date of an aware datetime, in the active time zone) in the active language's format."""
    if isinstance(value, datetime):
        value = timezone.localtime(value)
    return formats.date_format(value, "DATE_FORMAT")


def local_datetime(value: datetime) -> str:
    """An aware datetime in the active time zone, in the active language's format, with the zone's name."""
    local = timezone.localtime(value)
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} ({timezone.get_current_timezone_name()})"


def month_year(value: date) -> str:
    """ "December 2026" in the active language."""
    return formats.date_format(value, "YEAR_MONTH_FORMAT")
