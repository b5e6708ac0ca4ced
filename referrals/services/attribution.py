"""Link clicks and the first-party attribution cookie (PROGRAM_RULES.md section 1).

A click records one `Click` row (plus the device and IP sighting) and sets a
signed cookie naming the code, the click and when it happened. Last click
wins: every click overwrites the cookie. Clicks never touch referrals or rewards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from referrals.models import Channel, Click, ReferralCode

COOKIE_SALT = "referrals.attribution"
# Channels a link may carry; "typed" is only ever set by a code typed at sign-up.
LINK_CHANNELS = frozenset(Channel.values) - {Channel.TYPED}


def attribution_window() -> timedelta:
    return timedelta(days=settings.REFERRAL_ATTRIBUTION_DAYS)


def normalize_channel(raw: str | None) -> str:
    """The share channel of a link; anything unknown counts as `other` (never an error)."""
    value = (raw or "").strip().lower()
    return value if value in LINK_CHANNELS else Channel.OTHER


def click_allowed(*, ip_hash: str) -> bool:
    """Per-IP-hash clicks per minute in the shared cache; a cache outage lets clicks through (no reward state)."""
    from referral_portal.ratelimit import allow

    return allow(
        key=f"click:{ip_hash}", limit=settings.REFERRAL_CLICK_RATE_LIMIT, window_seconds=60, when_unavailable=True
    )


@transaction.atomic
def record_click(*, request: HttpRequest, code: ReferralCode, channel: str) -> Click:
    """Record one click (device, IP hash and country, channel, time) in one transaction; no reward state."""
    from accounts.services import record_sighting

    device, sighting = record_sighting(request=request, kind="click")
    return Click.objects.create(
        referral_code=code,
        channel=channel,
        device=device,
        ip_hash=sighting.ip_hash,
        ip_country=sighting.ip_country,
        clicked_at=sighting.seen_at,
    )


@dataclass(frozen=True)
class Attribution:
    """What the attribution cookie says: which code, which click (None if not recorded), when."""

    code: str
    click_id: int | None
    clicked_at: datetime


def set_attribution_cookie(response: HttpResponse, *, code: str, click_id: int | None, clicked_at: datetime) -> None:
    """Overwrite the cookie: last click wins."""
    value = f"{code}:{click_id or ''}:{int(clicked_at.timestamp())}"
    response.set_signed_cookie(
        settings.ATTRIBUTION_COOKIE_NAME,
        value,
        salt=COOKIE_SALT,
        max_age=int(attribution_window().total_seconds()),
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )


def read_attribution(request: HttpRequest) -> Attribution | None:
    """The attribution inside its 30-day window, or None (absent, tampered with, or expired)."""
    window = attribution_window()
    raw = request.get_signed_cookie(
        settings.ATTRIBUTION_COOKIE_NAME, default=None, salt=COOKIE_SALT, max_age=window.total_seconds()
    )
    if not raw:
        return None
    try:
        code, click_id, stamp = raw.split(":")
        clicked_at = datetime.fromtimestamp(int(stamp), tz=UTC)
        click = int(click_id) if click_id else None
    except ValueError:
        return None
    if clicked_at < timezone.now() - window:
        return None
    return Attribution(code=code, click_id=click, clicked_at=clicked_at)


# referrals/migrations/0004_record_click_function.py: the code check and the three rows in one call.
_CLICK_SQL = (
    "SELECT click_id, code FROM referrals_record_click("
    "%(code)s, %(device_hash)s, %(user_agent)s, %(ip_hash)s, %(ip_country)s, %(raw_ip)s, %(channel)s, %(now)s)"
)


def record_click_fast(
    *, request: HttpRequest, raw_code: str, channel: str, ip: str, ip_hash: str
) -> tuple[str, int, datetime] | None:
    """PostgreSQL hot path of `record_click`: the code check and every row in one function call (one round trip).

    Writes exactly what `usable_code` + `record_click` write (device upsert, IP sighting, click)
    through the PL/pgSQL function `referrals_record_click`, whose plans PostgreSQL keeps per connection;
    returns (code, click id, clicked_at), or None when the code is unknown, disabled or its member flagged.
    """
    from django.db import connection

    from accounts.identity import ip_country, keyed_hash
    from referrals.codes import looks_valid, normalize_code

    code = normalize_code(raw_code)
    if not looks_valid(code):
        return None
    params = {
        "code": code,
        "device_hash": keyed_hash(getattr(request, "device_id", "") or "", purpose="device"),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
        "ip_hash": ip_hash if ip else "",
        "ip_country": ip_country(ip) if ip else "",
        "raw_ip": ip or None,
        "channel": channel,
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLICK_SQL, params)
        row = cursor.fetchone()
    return (row[1], row[0], params["now"]) if row else None
