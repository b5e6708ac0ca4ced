"""Per-member locale: the logged-in member's language and time zone for the whole request."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

_LANGUAGES = {code for code, _name in settings.LANGUAGES}


class MemberLocaleMiddleware:
    """Activates `user.language` and `user.time_zone` for logged-in members.

    Runs after AuthenticationMiddleware; overrides LocaleMiddleware's guess
    (cookie / Accept-Language), which still applies to anonymous visitors.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user.language in _LANGUAGES:
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
