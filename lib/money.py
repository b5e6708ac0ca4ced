"""The one money formatter: amounts in their currency, in the reader's locale (Babel).

The template filter `{{ amount|money:currency }}` (referral_portal/templatetags/money.py) calls it.

The locale comes from the request: `accounts.middleware.MemberLocaleMiddleware` puts the member's
`MoneyLocale` in a context variable for the request (and resets it after the response), so the filter
resolves the locale once per request and UI language, not once per amount. Outside a member's request
(anonymous visitors, Celery, shell) the active UI language's default locale applies; code that formats
money for a given member outside their request passes `locale=accounts.locales.member_money_locale(user)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import format_currency
from django.utils import translation

_LANGUAGE_LOCALES = {"en": "en_US", "de": "de_DE", "fr": "fr_FR", "es": "es_ES", "pt": "pt_BR"}


def language_default_locale(language: str) -> str:
    """The locale of a UI language when nothing more is known about the reader (en → en_US)."""
    return _LANGUAGE_LOCALES.get((language or "en")[:2].lower(), "en_US")


class MoneyLocale:
    """The locale amounts use for one reader, per UI language; each language is resolved once."""

    __slots__ = ("_by_language", "_resolve")

    def __init__(self, resolve: Callable[[str], str]) -> None:
        self._resolve = resolve
        self._by_language: dict[str, str] = {}

    def for_language(self, language: str) -> str:
        try:
            return self._by_language[language]
        except KeyError:
            locale = self._by_language[language] = self._resolve(language)
            return locale


_current: ContextVar[MoneyLocale | None] = ContextVar("money_locale", default=None)


@contextmanager
def use_money_locale(money_locale: MoneyLocale | None) -> Iterator[None]:
    """Amounts formatted inside the block (no explicit locale) use `money_locale`; None = language default."""
    token = _current.set(money_locale)
    try:
        yield
    finally:
        _current.reset(token)


def active_money_locale() -> str:
    """The locale amounts use right now: the request's reader's, else the active language's default."""
    language = (translation.get_language() or "en")[:2]
    chosen = _current.get()
    if chosen is None:
        return language_default_locale(language)
    return chosen.for_language(language)


def format_money(amount, currency: str = "USD", locale: str | None = None) -> str:
    """Format a Decimal amount with its currency symbol in the given (or the request's) locale."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    return _format_currency(value, currency or "USD", locale or active_money_locale())


# Babel re-reads the locale's patterns on every call (≈ 30 µs); a page shows the same few amounts many
# times (My Coupons: 300 amounts), so remember the formatted strings per (amount, currency, locale).
@lru_cache(maxsize=4096)
def _format_currency(value: Decimal, currency: str, locale: str) -> str:
    return format_currency(value, currency, locale=locale)
