"""`{{ amount|money:currency }}`: amounts in the member's currency format and locale (Babel)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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
    return format_currency(value, currency or "USD", locale=locale)


@register.filter(name="money")
def money(amount, currency: str = "USD") -> str:
    return format_money(amount, currency)
