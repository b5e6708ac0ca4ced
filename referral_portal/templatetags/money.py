"""`{{ amount|money:currency }}`: amounts in the member's currency format and locale (Babel)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import format_currency
from django import template
from django.utils import translation

register = template.Library()

_LANGUAGE_LOCALES = {"en": "en_US", "de": "de_DE", "fr": "fr_FR", "es": "es_ES"}


def format_money(amount, currency: str = "USD", locale: str | None = None) -> str:
    """Format a Decimal amount with its currency symbol in the given (or active) locale."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    if locale is None:
        locale = _LANGUAGE_LOCALES.get((translation.get_language() or "en")[:2], "en_US")
    return _format_currency(value, currency or "USD", locale)


# Babel re-reads the locale's patterns on every call (≈ 30 µs); a page shows the same few amounts many
# times (My Coupons: 300 amounts), so remember the formatted strings per (amount, currency, locale).
@lru_cache(maxsize=4096)
def _format_currency(value: Decimal, currency: str, locale: str) -> str:
    return format_currency(value, currency, locale=locale)


@register.filter(name="money")
def money(amount, currency: str = "USD") -> str:
    return format_money(amount, currency)
