"""Link clicks and the first-party attribution cookie (docs/program-rules.md section 1).

A click records one `Click` row (plus the device and IP sighting) and sets a
signed cookie naming the code, the click and when it happened. Last click
wins: every click overwrites the cookie. Clicks never touch referrals or rewards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.devices import record_sighting
from accounts.identity import ip_country, keyed_hash
from lib.client import ClientInfo
from lib.ratelimit import allow
from referrals.codes import looks_valid, normalize_code
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
    return allow(
        key=f"click:{ip_hash}", limit=settings.REFERRAL_CLICK_RATE_LIMIT, window_seconds=60, when_unavailable=True
    )


@transaction.atomic
def record_click(*, client: ClientInfo, code: ReferralCode, channel: str) -> Click:
    """Record one click (device, IP hash and country, channel, time) in one transaction; no reward state."""
    device, sighting = record_sighting(client=client, kind="click")
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


def parse_attribution(raw: str | None) -> Attribution | None:
    """What a verified cookie value says, inside its 30-day window; None when absent, malformed or expired."""
    if not raw:
        return None
    try:
        code, click_id, stamp = raw.split(":")
        clicked_at = datetime.fromtimestamp(int(stamp), tz=UTC)
        click = int(click_id) if click_id else None
    except ValueError:
        return None
    if clicked_at < timezone.now() - attribution_window():
        return None
    return Attribution(code=code, click_id=click, clicked_at=clicked_at)


def attribution_value(*, code: str, click_id: int | None, clicked_at: datetime) -> str:
    """The cookie value naming a click (signed by the interface that sets it)."""
    return f"{code}:{click_id or ''}:{int(clicked_at.timestamp())}"


# referrals/migrations/0004_record_click_function.py: the code check and the three rows in one call.
_CLICK_SQL = (
    "SELECT click_id, code FROM referrals_record_click("
    "%(code)s, %(device_hash)s, %(user_agent)s, %(ip_hash)s, %(ip_country)s, %(raw_ip)s, %(channel)s, %(now)s)"
)


def record_click_fast(
    *, client: ClientInfo, raw_code: str, channel: str, ip_hash: str
) -> tuple[str, int, datetime] | None:
    """PostgreSQL hot path of `record_click`: the code check and every row in one function call (one round trip).

    Writes exactly what `usable_code` + `record_click` write (device upsert, IP sighting, click)
    through the PL/pgSQL function `referrals_record_click`, whose plans PostgreSQL keeps per connection;
    returns (code, click id, clicked_at), or None when the code is unknown, disabled or its member flagged.
    """
    code = normalize_code(raw_code)
    if not looks_valid(code):
        return None
    now = timezone.now()
    params = {
        "code": code,
        "device_hash": keyed_hash(client.device_id, purpose="device"),
        "user_agent": client.user_agent[:300],
        "ip_hash": ip_hash if client.ip else "",
        "ip_country": ip_country(client.ip) if client.ip else "",
        "raw_ip": client.ip or None,
        "channel": channel,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLICK_SQL, params)
        row = cursor.fetchone()
    return (row[1], row[0], now) if row else None
