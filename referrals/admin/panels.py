"""Read-only panels of the referral program that admin pages embed (here and in the member admin)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString

from accounts.models import User
from referrals.models import Referral, ReferralEvent
from referrals.selectors import behaviour


def render_behaviour(referrer: User) -> SafeString:
    """The referrer's behaviour panel (bursts, identical first orders, silent friends); read-only."""
    return SafeString(
        render_to_string(
            "admin/accounts/behaviour.html",
            {
                "b": behaviour.referrer_behaviour(referrer=referrer, now=timezone.now()),
                "burst_limit": behaviour.BURST_FLAG_ABOVE,
                "silent_min_friends": behaviour.SILENT_MIN_FRIENDS,
                "silent_min_percent": int(behaviour.SILENT_MIN_RATIO * 100),
            },
        )
    )


def render_timeline(referral: Referral) -> SafeString:
    # Reads the prefetched events (with their actors): no query per referral.
    return SafeString(render_to_string("admin/referrals/timeline.html", {"events": list(referral.events.all())}))


def timeline_prefetch() -> Prefetch:
    return Prefetch("events", queryset=ReferralEvent.objects.select_related("actor").order_by("occurred_at", "id"))
