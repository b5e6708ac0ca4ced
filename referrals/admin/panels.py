"""Read-only panels of the referral program that admin pages embed (here and in the member admin)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from accounts.models import User
from lib.i18n import field_display
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
    return timeline_html(referral.events.all())


def _minute(when) -> str:
    """`|date:"Y-m-d H:i"`."""
    return f"{when.year:04d}-{when.month:02d}-{when.day:02d} {when.hour:02d}:{when.minute:02d}"


def timeline_html(events: Iterable[ReferralEvent]) -> SafeString:
    """A referral's timeline as the staff pages show it: every state change, when it happened (the current time
    zone), who or what did it and when the portal heard of it if another minute. Written in Python rather than
    a template included once per referral: the member page of a big referrer shows 50 timelines, and the
    template engine spent a fifth of that page's time on them (docs/performance.md). Text is escaped here."""
    events = list(events)
    if not events:
        return SafeString('<span class="muted">—</span>\n')
    parts = ['<ol class="staff-timeline">\n']
    for event in events:
        occurred = timezone.template_localtime(event.occurred_at)
        from_state = event.from_state or "∅"
        parts.append(
            f'<li><time datetime="{conditional_escape(occurred.isoformat())}">{_minute(occurred)}</time>\n'
            f" {conditional_escape(from_state)} → <strong>{conditional_escape(event.to_state)}</strong>"
        )
        if event.reason_code:
            parts.append(f" <code>{conditional_escape(event.reason_code)}</code>")
        parts.append(f'\n <span class="muted">({conditional_escape(field_display(event, "actor_kind"))}')
        if event.actor:
            parts.append(f": {conditional_escape(str(event.actor))}")
        if event.recorded_at:
            recorded = timezone.template_localtime(event.recorded_at)
            if _minute(recorded) != _minute(occurred):
                # A translation is trusted text; only the value put into it is escaped (as {% blocktranslate %}).
                parts.append("; " + gettext("recorded %(when)s") % {"when": _minute(recorded)})
        parts.append(")</span>")
        if event.note:
            parts.append(f" — {conditional_escape(event.note)}")
        parts.append("</li>\n")
    parts.append("</ol>\n")
    return SafeString("".join(parts))


def timeline_prefetch() -> Prefetch:
    return Prefetch("events", queryset=ReferralEvent.objects.select_related("actor").order_by("occurred_at", "id"))
