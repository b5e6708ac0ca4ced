"""Which Babel locale a member's amounts use (docs/program-rules.md section 7: local currency and locale).

1. The member's UI language with their country, when Babel knows that combination (en + DE → en_DE,
   fr + CA → fr_CA);
2. else their region's `locale`, when its language is the member's language;
3. else the language's default (en → en_US, de → de_DE, fr → fr_FR, es → es_ES).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache

from babel import localedata
from django.conf import settings
from django.utils import timezone, translation

from accounts.levels import member_zone
from accounts.models import Region, User
from accounts.selectors import region_for_country
from lib.money import MoneyLocale, language_default_locale, use_money_locale


@lru_cache(maxsize=1024)
def _known_locale(identifier: str) -> str | None:
    """`identifier` as Babel spells it (de-de → de_DE) if Babel has data for it, else None."""
    parts = identifier.replace("-", "_").split("_")
    if not parts[0].isalpha() or not all(part.isalnum() for part in parts):
        return None
    normalised = "_".join([parts[0].lower(), *(part.upper() if len(part) == 2 else part for part in parts[1:])])
    return normalised if localedata.exists(normalised) else None


def money_locale(*, language: str, country: str = "", region_locale: str | Callable[[], str] = "") -> str:
    """The locale for `language` + `country`, else the region's (same language), else the language default.

    `region_locale` may be a callable, so the region is only read when the first step does not decide.
    """
    language = (language or "en")[:2].lower()
    country = (country or "").strip().upper()
    if len(country) == 2 and country.isalpha():
        combined = _known_locale(f"{language}_{country}")
        if combined is not None:
            return combined
    candidate = region_locale() if callable(region_locale) else region_locale
    if candidate:
        known = _known_locale(candidate)
        if known is not None and known.split("_")[0] == language:
            return known
    return language_default_locale(language)


def member_money_locale_choice(member: User) -> MoneyLocale:
    """The member's locale per UI language, resolved lazily (for the request's context variable)."""
    country = str(member.country or "")

    def region_locale() -> str:
        return region_for_country(country).locale

    return MoneyLocale(lambda language: money_locale(language=language, country=country, region_locale=region_locale))


def region_money_locale_choice(region: Region) -> MoneyLocale:
    """A visitor whose region a page knows (landing page): the region's locale if its language is theirs."""
    return MoneyLocale(lambda language: money_locale(language=language, region_locale=region.locale))


def member_money_locale(member: User) -> str:
    """The locale of the member's own language and country (e-mails and notices built outside their request)."""
    return member_money_locale_choice(member).for_language(member_language(member)[:2])


def member_language(member: User) -> str:
    """The member's UI language if the portal offers it, else the default language."""
    languages = {code for code, _name in settings.LANGUAGES}
    return member.language if member.language in languages else settings.LANGUAGE_CODE


@contextmanager
def as_member(member: User) -> Iterator[None]:
    """Words, amounts, dates and times built inside the block are the member's: their language, money locale
    and time zone, whoever's request or task builds them (an e-mail, a notice from a staff action or a sweep)."""
    with (
        translation.override(member_language(member)),
        timezone.override(member_zone(member)),
        use_money_locale(member_money_locale_choice(member)),
    ):
        yield
