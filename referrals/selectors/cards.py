"""The Invite Friends tabs and referral cards: one page of a member's referrals with everything a card prints.

A card's open support request is support's (`support.selectors.open_requests_by_referral`): the view reads it
and passes it to `referral_cards`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, tzinfo
from functools import lru_cache
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, TruncMonth
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import get_language, gettext, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from accounts.models import Region, User
from accounts.selectors import region_for_country
from coupons.models import CouponStatus
from lib import sqlonce
from lib.i18n import choice_labels
from lib.money import format_money
from referrals.explain import IN_PROGRESS_STATES, NOT_CREDITED_STATES, explain
from referrals.models import Channel, Referral, ReferralEvent
from referrals.program import program_zone
from referrals.reasons import ReasonCode, ReferralState, staff_label
from referrals.terms import referral_terms

TABS = {
    "all": (gettext_lazy("All"), None),
    "progress": (gettext_lazy("In progress"), IN_PROGRESS_STATES),
    "credited": (gettext_lazy("Credited"), (ReferralState.CREDITED,)),
    "not_credited": (gettext_lazy("Not credited"), NOT_CREDITED_STATES),
}
# Twelve compact trackers a page: the friends list fits a phone screen or two (issue 15), pages for the rest.
PER_PAGE = 12


def tab_counts(*, member: User) -> dict[str, int]:
    """How many referrals each filter tab shows: one aggregate query."""
    aggregates = {
        key: Count("id", filter=Q(state__in=states)) if states else Count("id") for key, (_, states) in TABS.items()
    }
    return Referral.objects.filter(referrer=member).aggregate(**aggregates)


@lru_cache(maxsize=64)  # an expression is copied when a query resolves it: built once per limit
def _month_ordinal(limit: int) -> Case:
    """For a capped referral: its number among the month's counted referrals, "your 11th in November 2026".

    One definition (docs/program-rules.md section 3): a referral is capped only once the month's `limit` coupons
    are issued, so the n-th capped referral of a program month is the (limit + n)-th counted one. Needs the
    `counted_at` and `counted_month` annotations of `referrals_for_page` on the outer query.
    """
    earlier_capped = (
        Referral.objects.filter(referrer=OuterRef("referrer"), state=ReferralState.CAPPED)
        .alias(counted_at=Coalesce("decided_at", "completed_at"))
        .filter(counted_at__gte=OuterRef("counted_month"))
        .filter(Q(counted_at__lt=OuterRef("counted_at")) | Q(counted_at=OuterRef("counted_at"), pk__lte=OuterRef("pk")))
        .order_by()
        .values("referrer")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Case(
        When(state=ReferralState.CAPPED, then=Subquery(earlier_capped, output_field=IntegerField()) + Value(limit)),
        default=Value(None),
        output_field=IntegerField(),
    )


def referrals_for_page(*, member: User, tab: str = "all", region: Region | None = None) -> QuerySet[Referral]:
    """The member's referrals for one tab, newest first, with everything a card shows (no per-row queries)."""
    region = region or region_for_country(str(member.country))
    return _cards_query(tab, region.monthly_limit, region.time_zone)(member.pk).prefetch_related(_timeline())


def _timeline_rows() -> QuerySet[ReferralEvent]:
    """A card's timeline: its referral's events, oldest first (only what a timeline prints)."""
    return ReferralEvent.objects.only("id", "referral_id", "to_state", "reason_code", "occurred_at").order_by(
        "occurred_at", "id"
    )


def _timeline() -> Prefetch:
    """Each card's timeline as the list `referral.timeline`."""
    return Prefetch("events", queryset=_timeline_rows(), to_attr="timeline")


def _timelines_of(*referral_ids: int) -> QuerySet[ReferralEvent]:
    return _timeline_rows().filter(referral_id__in=referral_ids)


def _add_timelines(referrals: list[Referral]) -> None:
    """`referral.timeline` for each referral, as `_timeline()` prefetches it: one query compiled once per page
    size (`lib.sqlonce`)."""
    timelines: dict[int, list[ReferralEvent]] = {r.pk: [] for r in referrals}
    if referrals:
        for event in sqlonce.instances(_timelines_of, *timelines):
            timelines[event.referral_id].append(event)
    for r in referrals:
        r.timeline = timelines[r.pk]  # type: ignore[attr-defined]  # what Prefetch(to_attr=) sets


@lru_cache(maxsize=256)
def _cards_query(tab: str, limit: int, time_zone: str) -> Callable[[int], QuerySet[Referral]]:
    """The cards' query of one tab for a member id, in a region's limit and time zone: one function per
    (tab, limit, zone), so `lib.sqlonce` compiles each shape once (the zone and the limit are part of the SQL)."""
    # The counted month in SQL: the same program month as `referrals.program.program_month`.
    tz = program_zone(time_zone)
    states = TABS.get(tab, TABS["all"])[1]

    def build(member_id: int) -> QuerySet[Referral]:
        qs = Referral.objects.filter(referrer_id=member_id)
        if states:
            qs = qs.filter(state__in=states)
        return (
            qs.select_related("friend", "first_order", "reward_coupon")
            .only(
                "id",
                "state",
                "reason_code",
                "channel",
                "registered_at",
                "order_placed_at",
                "completed_at",
                "credited_at",
                "decided_at",
                "referrer_id",
                "terms",
                "friend__first_name",
                "friend__last_name",
                "first_order__id",
                "first_order__external_id",
                "reward_coupon__id",
                "reward_coupon__value",
                "reward_coupon__currency",
                "reward_coupon__status",
                "reward_coupon__expires_at",
            )
            .alias(counted_at=Coalesce("decided_at", "completed_at"))
            .annotate(counted_month=TruncMonth("counted_at", tzinfo=tz))
            .annotate(month_ordinal=_month_ordinal(limit))
            # The one stored check a card's wording needs (DEVICE_LIMIT on the referrer's side), not the signals JSON.
            .annotate(referrer_device_limit=KT("signals__checks__referrer_device_limit"))
            # When a medium-signal review closed itself on the friend's verified phone (services.second_chance).
            .annotate(second_chance_at=KT("signals__second_chance__at"))
            .order_by("-registered_at", "-id")
        )

    build.__qualname__ = f"cards_query[{tab},{limit},{time_zone}]"
    return build


def referral_page(
    *,
    member: User,
    tab: str = "all",
    page: str | int | None = 1,
    per_page: int = PER_PAGE,
    region: Region | None = None,
    count: int | None = None,
) -> Page:
    """One page of referral cards: a count, the page rows and their timelines (3 queries).

    Pass `count` (the tab's size from `tab_counts`) to skip the paginator's COUNT query (2 queries); the page's
    query is then compiled once per process and shape (`lib.sqlonce`) instead of on every visit.
    """
    if count is None:
        return Paginator(referrals_for_page(member=member, tab=tab, region=region), per_page).get_page(page)
    region = region or region_for_country(str(member.country))
    # The paginator validates the page number against the known count; the rows come from the compiled query.
    found = Paginator(range(count), per_page).get_page(page)
    build = _cards_query(tab if tab in TABS else "all", region.monthly_limit, region.time_zone)
    rows = sqlonce.instances(build, member.pk, limit=per_page, offset=(found.number - 1) * per_page)
    _add_timelines(rows)
    found.object_list = rows
    return found


_TIMELINE_TONES: dict[str, str] = {
    ReferralState.CREDITED: "success",
    ReferralState.QUALIFIED: "success",
    ReferralState.REJECTED: "danger",
    ReferralState.VOIDED: "danger",
    ReferralState.CAPPED: "warning",
    ReferralState.UNDER_REVIEW: "warning",
}


def _label(labels: dict[str, str], value: str) -> str:
    """What `get_FOO_display()` prints: the choice's label, else the raw value (`labels`: `choice_labels`)."""
    return labels.get(value, value)


@lru_cache(maxsize=1024)
def _day_text(day: date, language: str) -> str:
    """`{{ day|date:"DATE_FORMAT" }}`, once per day and language (the key carries the language)."""
    return date_filter(day, "DATE_FORMAT")


@lru_cache(maxsize=4096)
def _time_text(value: time, language: str) -> str:
    """`{{ value|time:"TIME_FORMAT" }}`, once per time of day and language (the key carries the language)."""
    return time_format(value, "TIME_FORMAT")


def _local_day(value: datetime, tz: tzinfo | None = None) -> str:
    """What `{{ value|date:"DATE_FORMAT" }}` prints in the active time zone (or `tz`) and language."""
    return _day_text(timezone.localtime(value, tz).date(), get_language() or "")


def _local_minute(value: datetime, tz: tzinfo | None = None) -> str:
    """The day (DATE_FORMAT) and the time (TIME_FORMAT) in the active time zone (or `tz`) and language."""
    local = timezone.localtime(value, tz)
    language = get_language() or ""
    # TIME_FORMAT prints at most seconds: the key drops the microseconds, so the cache is shared.
    return f"{_day_text(local.date(), language)}, {_time_text(local.time().replace(microsecond=0), language)}"


def referral_cards(
    referrals: Iterable[Referral], *, now: datetime, open_requests: Mapping[int, Any] | None = None
) -> list[dict]:
    """Everything one card prints, as plain strings made once in Python (no per-row template filters).

    `referrals` come from `referral_page` / `referrals_for_page` (friend, timeline); `open_requests` maps a referral's
    id to its open support request (`support.selectors.open_requests_by_referral`).
    """
    open_requests = open_requests or {}
    tz = timezone.get_current_timezone()  # once, not per date
    state_labels = choice_labels(ReferralState)
    channel_labels = choice_labels(Channel)
    cards = []
    for r in referrals:
        x = explain(r, now=now)
        signed_up = _("Signed up %(day)s via %(channel)s") % {
            "day": _local_day(r.registered_at, tz),
            "channel": _label(channel_labels, r.channel),
        }
        if r.completed_at:
            order_text = " · " + _("first order completed %(when)s") % {"when": _local_minute(r.completed_at, tz)}
        elif r.order_placed_at:
            order_text = " · " + _("first order placed %(day)s") % {"day": _local_day(r.order_placed_at, tz)}
        else:
            order_text = ""
        timeline = []
        for e in r.timeline:  # type: ignore[attr-defined]  # set by _timeline() / _add_timelines
            label = _label(state_labels, e.to_state)
            if e.reason_code and e.reason_code != ReasonCode.ACCOUNT_FLAGGED:
                label = f"{label} — {staff_label(e.reason_code)}"
            timeline.append(
                {
                    "tone": _TIMELINE_TONES.get(e.to_state, "info"),
                    "iso": timezone.localtime(e.occurred_at, tz).isoformat(),  # the `c` date format
                    "when": _local_minute(e.occurred_at, tz),
                    "label": label,
                }
            )
        open_request = open_requests.get(r.pk)
        cards.append(
            {
                "pk": r.pk,
                "friend_name": mask_name(r.friend.first_name, r.friend.last_name),
                "state": r.state,
                "state_label": _label(state_labels, r.state),
                "signed_up": signed_up + order_text,
                "terms_text": terms_text(r),
                "second_chance_text": (
                    gettext("Check passed: your friend verified a phone number, so the review closed by itself.")
                    if getattr(r, "second_chance_at", None)
                    else ""
                ),
                "pending_impact_text": (
                    gettext(
                        "If your friend cancels this order or gets it refunded before it is completed, "
                        "your reward will not be given."
                    )
                    if r.state == ReferralState.ORDER_PLACED
                    else ""
                ),
                "is_credited": r.state == ReferralState.CREDITED,
                "steps": _tracker(r),
                "coupon": _reward_coupon(r, tz),
                # A friend who signed up and has not ordered: the member may send a pre-written reminder.
                "can_remind": r.state == ReferralState.REGISTERED,
                "explanation": x,
                "timeline": timeline,
                "open_request": open_request,
                "open_request_status": open_request.get_status_display().lower() if open_request else "",
            }
        )
    return cards


def _tracker(r: Referral) -> list[dict]:
    """The card's compact tracker: signed up → first order → completed → coupon, each step done or not."""
    ended = r.state in NOT_CREDITED_STATES
    signed_up, first_order, completed, no_coupon, coupon = _tracker_labels(get_language())
    return [
        {"label": signed_up, "done": True},
        {"label": first_order, "done": r.order_placed_at is not None or r.completed_at is not None},
        {"label": completed, "done": r.completed_at is not None},
        {"label": no_coupon if ended else coupon, "done": r.state == ReferralState.CREDITED, "ended": ended},
    ]


@lru_cache(maxsize=32)
def _tracker_labels(language: str | None) -> tuple[str, str, str, str, str]:
    """The tracker's step labels in one language (the key carries the language `_` reads)."""
    return (_("Signed up"), _("First order"), _("Completed"), _("No coupon"), _("Coupon"))


def _reward_coupon(r: Referral, tz: tzinfo | None = None) -> dict | None:
    """A credited card's coupon: value, expiry, and the link to it in My Coupons (None without one)."""
    if r.state != ReferralState.CREDITED:
        return None
    try:
        coupon = r.reward_coupon
    except ObjectDoesNotExist:
        return None
    usable = coupon.status == CouponStatus.ACTIVE
    tab = "platform" if usable else "history"
    return {
        "pk": coupon.pk,
        "value_text": format_money(coupon.value, coupon.currency),
        "expires_on": _local_day(coupon.expires_at, tz),
        "expires_iso": timezone.localtime(coupon.expires_at, tz).isoformat(),
        "is_usable": usable,
        "status_label": choice_labels(CouponStatus)[coupon.status],
        "url": f"{reverse('coupons:wallet')}?tab={tab}#coupon-{coupon.pk}",
    }


def terms_text(referral: Referral) -> str:
    """The card's "your terms" line: the reward this invitation promised at sign-up ("" without a snapshot)."""
    if not referral.terms:
        return ""
    reward = referral_terms(referral).reward
    days = reward.coupon_valid_days
    return ngettext(
        "Your terms: a %(reward)s coupon (min. spend %(min_spend)s, valid %(days)s day), "
        "up to %(limit)s a month, as when your friend joined.",
        "Your terms: a %(reward)s coupon (min. spend %(min_spend)s, valid %(days)s days), "
        "up to %(limit)s a month, as when your friend joined.",
        days,
    ) % {
        "reward": format_money(reward.reward_amount, reward.currency),
        "min_spend": format_money(reward.reward_min_spend, reward.currency),
        "days": days,
        "limit": reward.monthly_limit,
    }


def mask_name(first_name: str, last_name: str = "") -> str:
    """'John Smith' → 'Jo** S.': enough for the referrer to recognise a friend, never the full name or e-mail."""
    first = (first_name or "").strip()
    last = (last_name or "").strip()
    if not first and not last:
        return _("A friend")
    if first:
        keep = 1 if len(first) <= 3 else 2
        masked = first[:keep] + "*" * min(max(len(first) - keep, 1), 4)
    else:
        masked = "***"
    return f"{masked} {last[0].upper()}." if last else masked


def remindable(*, member: User, referral_id: int) -> Referral | None:
    """The member's referral of a friend who signed up and has not ordered yet (the one "Remind" is for)."""
    return (
        Referral.objects.select_related("friend")
        .only("id", "state", "friend__first_name", "friend__last_name")
        .filter(pk=referral_id, referrer=member, state=ReferralState.REGISTERED)
        .first()
    )
