"""The attribution cookie on the wire (interface layer): signed, first-party, 30 days, last click wins.

What the value means is decided by `referrals.services.attribution`; this module only signs, sets and
reads it on a request or response, so the services never see an HttpRequest.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from referrals.services.attribution import (
    COOKIE_SALT,
    Attribution,
    attribution_value,
    attribution_window,
    parse_attribution,
)


def set_attribution_cookie(response: HttpResponse, *, code: str, click_id: int | None, clicked_at: datetime) -> None:
    """Overwrite the cookie: last click wins."""
    response.set_signed_cookie(
        settings.ATTRIBUTION_COOKIE_NAME,
        attribution_value(code=code, click_id=click_id, clicked_at=clicked_at),
        salt=COOKIE_SALT,
        max_age=int(attribution_window().total_seconds()),
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )


def read_attribution(request: HttpRequest) -> Attribution | None:
    """The attribution inside its 30-day window, or None (absent, tampered with, or expired)."""
    raw = request.get_signed_cookie(
        settings.ATTRIBUTION_COOKIE_NAME,
        default=None,
        salt=COOKIE_SALT,
        max_age=attribution_window().total_seconds(),
    )
    return parse_attribution(raw)
