"""Helpers for translated words that are defined once, at import, and read later in the reader's language.

`gettext_lazy("… %(n)s …") % {...}` would format (and so translate) at import time, in English;
`lazy_format` keeps the message lazy until it is shown, so the words of a rule can live in a module
constant and still reach each reader in their own language.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.db.models import Choices
from django.utils import formats, timezone
from django.utils.functional import Promise, lazy
from django.utils.translation import get_language

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


@lru_cache(maxsize=256)
def _choice_labels(choices_class: type[Choices], language: str | None) -> dict[Any, str]:
    return {value: str(label) for value, label in choices_class.choices}


def choice_labels(choices_class: type[Choices]) -> dict[Any, str]:
    """{value: label} of a Django `Choices` class in the active language, made once per process and language.

    What `get_FOO_display()` prints without its per-call work (it hashes every lazy label of the field's
    choices on each call). The labels are code, not data: the same for every reader of one language.
    Read-only: the dict is shared.
    """
    return _choice_labels(choices_class, get_language())
