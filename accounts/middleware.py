"""Per-member locale: the logged-in member's language, time zone and money locale for the whole request."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from accounts.locales import member_money_locale_choice
from lib.money import use_money_locale

_LANGUAGES = {code for code, _name in settings.LANGUAGES}


class MemberLocaleMiddleware:
    """Activates `user.language`, `user.time_zone` and the member's money locale for logged-in members.

    The money locale (`accounts.locales`) is resolved at most once per request and language, on the
    first amount formatted; it is reset after the response, so the next request on this thread (another
    member, or an anonymous visitor) starts from its own.

    Runs after AuthenticationMiddleware; overrides LocaleMiddleware's guess
    (cookie / Accept-Language), which still applies to anonymous visitors.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        money_locale = None
        if user is not None and user.is_authenticated:
            if user.language in _LANGUAGES:
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
            money_locale = member_money_locale_choice(user)
        try:
            with use_money_locale(money_locale):
                return self.get_response(request)
        finally:
            timezone.deactivate()
