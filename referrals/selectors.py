"""What the referral pages read: links, landing, sign-up eligibility facts and Invite Friends.

Every function runs a fixed number of queries, whatever the number of referrals or clicks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Concat, TruncMonth
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.translation import get_language

from accounts.models import Region
from accounts.selectors import region_for_country
from coupons.models import Coupon, CouponSource, CouponStatus
from referrals.codes import looks_valid, normalize_code
from referrals.explain import IN_PROGRESS_STATES, NOT_CREDITED_STATES, explain
from referrals.models import Channel, Click, MonthlyRewardCounter, Referral, ReferralCode, ReferralEvent
from referrals.reasons import ReasonCode, ReferralState

logger = logging.getLogger(__name__)
RECENT_SIGHTINGS = timedelta(days=30)


def usable_code(raw: str) -> ReferralCode | None:
    """The active code of a member who is not flagged, with its member; one query (none for garbage).

    Unknown, disabled and flagged codes all answer None, so callers cannot tell them apart.
    """
    code = normalize_code(raw)
    if not looks_valid(code):
        return None
    return (
        ReferralCode.objects.select_related("user")
        .filter(code=code, is_active=True)
        .exclude(user__status="flagged")
        .first()
    )


def program_participants() -> Q:
    """Filter on users: taking part in the program as friend or referrer of a referral not rejected."""
    live = Referral.objects.exclude(state=ReferralState.REJECTED)
    return Q(pk__in=live.values("friend_id")) | Q(pk__in=live.values("referrer_id"))


def _referrer_device_facts(*, referrer, friend, referrer_facts) -> dict:
    """Whether the referrer takes part already; if not, the most program accounts on one of their devices."""
    from django.db.models import Count

    from accounts.models import AccountDevice, User

    if referrer is None:
        return {}
    participants = User.objects.filter(program_participants())
    if participants.filter(pk=referrer.pk).exists():
        return {"referrer_takes_part": True}
    if not referrer_facts.device_hashes:
        return {"referrer_takes_part": False}
    per_device = (
        AccountDevice.objects.filter(device__id_hash__in=referrer_facts.device_hashes, user__in=participants)
        .exclude(user_id__in=[referrer.pk, friend.pk])
        .values("device_id")
        .annotate(accounts=Count("user_id", distinct=True))
        .values_list("accounts", flat=True)
    )
    return {"referrer_takes_part": False, "referrer_device_program_accounts": max(per_device, default=0)}


def signup_facts(
    *, friend, referrer, device_hash: str, ip_hash: str, ip_country: str, user_agent: str, arrived_at: datetime
):
    """Gather everything `referrals.eligibility.decide` needs about one sign-up (a fixed number of queries)."""
    import phonenumbers

    from accounts.models import AccountDevice, Device, IPSighting, User
    from accounts.selectors import region_for_country
    from orders.models import PaymentCard
    from referrals.eligibility import AccountFacts, SignupFacts

    def account(user) -> AccountFacts:
        devices = list(
            AccountDevice.objects.filter(user=user).values_list("device__id_hash", "device__fingerprint_hash")
        )
        return AccountFacts(
            user_id=user.pk,
            country=str(user.country),
            status=user.status,
            email_normalized=user.email_normalized,
            phone=user.phone,
            phone_verified=user.phone_verified_at is not None,
            region_in_program=region_for_country(str(user.country)).is_in_program,
            device_hashes=frozenset(id_hash for id_hash, _ in devices),
            fingerprint_hashes=frozenset(fingerprint for _, fingerprint in devices if fingerprint),
            card_fingerprints=frozenset(PaymentCard.objects.filter(user=user).values_list("fingerprint", flat=True)),
        )

    friend_facts = account(friend)
    referrer_facts = account(referrer) if referrer is not None else None
    others = User.objects.exclude(pk=friend.pk)
    if referrer is not None:
        # The referrer sharing a signal is SELF_REFERRAL, not ALREADY_REGISTERED.
        others = others.exclude(pk=referrer.pk)

    phone_country = ""
    if friend.phone:
        try:
            phone_country = phonenumbers.region_code_for_number(phonenumbers.parse(friend.phone)) or ""
        except phonenumbers.NumberParseException:
            phone_country = ""

    on_device = User.objects.exclude(pk=friend.pk)
    participants = program_participants()
    since = timezone.now() - RECENT_SIGHTINGS
    referrer_sightings = (
        IPSighting.objects.filter(user=referrer, ip_hash=ip_hash, seen_at__gte=since)
        if referrer is not None and ip_hash
        else IPSighting.objects.none()
    )
    # The sign-up sighting (recorded just before, in the same transaction) wrote the browser's fingerprint
    # on the friend's Device row; "" when the browser sent none.
    fingerprint_hash = (
        (Device.objects.filter(id_hash=device_hash).values_list("fingerprint_hash", flat=True).first() or "")
        if device_hash
        else ""
    )
    return SignupFacts(
        friend=friend_facts,
        referrer=referrer_facts,
        device_hash=device_hash,
        fingerprint_hash=fingerprint_hash,
        ip_hash=ip_hash,
        ip_country=ip_country,
        user_agent=user_agent,
        phone_country=phone_country,
        accounts_with_email=others.filter(email_normalized=friend.email_normalized).count(),
        accounts_with_phone=others.filter(phone=friend.phone).count() if friend.phone else 0,
        accounts_with_card=(
            others.filter(payment_cards__fingerprint__in=friend_facts.card_fingerprints).distinct().count()
            if friend_facts.card_fingerprints
            else 0
        ),
        device_non_program_accounts=(
            on_device.filter(
                account_devices__device__id_hash=device_hash, account_devices__first_seen_at__lt=arrived_at
            )
            .exclude(participants)
            .distinct()
            .count()
            if device_hash
            else 0
        ),
        device_program_accounts=(
            on_device.filter(participants, account_devices__device__id_hash=device_hash).distinct().count()
            if device_hash
            else 0
        ),
        **_referrer_device_facts(referrer=referrer, friend=friend, referrer_facts=referrer_facts),
        referrer_shares_ip=referrer_sightings.exists(),
        referrer_shares_ip_and_agent=bool(user_agent) and referrer_sightings.filter(user_agent=user_agent).exists(),
        ip_signups_last_day=(
            IPSighting.objects.filter(kind="signup", ip_hash=ip_hash, seen_at__gte=timezone.now() - timedelta(days=1))
            .exclude(user=None)
            .values("user")
            .distinct()
            .count()
            if ip_hash
            else 0
        ),
    )


# Enough account ids to explain a decision to staff; the decision needs only "any".
FIRST_ORDER_ACCOUNTS_SHOWN = 20
# A friend counts towards a referrer burst once their first order completed and the automatic path passed
# it (qualified, credited, capped), or while a burst of its own holds it for staff.
BURST_COUNTED = Q(state__in=[ReferralState.QUALIFIED, ReferralState.CREDITED, ReferralState.CAPPED]) | Q(
    state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.REFERRER_BURST
)


def first_order_facts(*, referral: Referral, order, completed_at: datetime | None = None):
    """Gather what `referrals.eligibility.decide_first_order` needs (at most five queries).

    `completed_at` is given when the first order completed: the referrer's other qualified
    friends within 24 hours of it are read then (the caller holds the referrer's lock).
    """
    from accounts.models import AccountDevice
    from orders.models import PaymentCard
    from referrals.eligibility import REFERRER_BURST_WINDOW, FirstOrderFacts

    shown = FIRST_ORDER_ACCOUNTS_SHOWN
    card = order.card if order.card_id else None
    card_facts: dict = {}
    if card is not None:
        # Every other holder of the same card; the friend's own row is the friend's.
        holders = PaymentCard.objects.filter(fingerprint=card.fingerprint).exclude(user_id=referral.friend_id)
        referrer_devices = AccountDevice.objects.filter(user_id=referral.referrer_id).values("device_id")
        on_referrer_devices = AccountDevice.objects.filter(device_id__in=referrer_devices).values("user_id")
        others = holders.exclude(user_id=referral.referrer_id)
        card_facts = {
            "card_fingerprint": card.fingerprint,
            "card_used_by_referrer": holders.filter(user_id=referral.referrer_id).exists(),
            "card_accounts_on_referrer_devices": tuple(
                others.filter(user_id__in=on_referrer_devices)
                .order_by("user_id")
                .values_list("user_id", flat=True)[:shown]
            ),
            # Only accounts that had the card before the friend: an account that used it later is the
            # newcomer, not the friend (and one decision does not depend on which event arrived first).
            "card_accounts_before_friend": tuple(
                others.filter(first_used_at__lt=card.first_used_at)
                .order_by("first_used_at", "user_id")
                .values_list("user_id", flat=True)[:shown]
            ),
        }
    nearby: tuple = ()
    if completed_at is not None:
        nearby = tuple(
            Referral.objects.filter(
                BURST_COUNTED,
                referrer_id=referral.referrer_id,
                completed_at__gt=completed_at - REFERRER_BURST_WINDOW,
                completed_at__lt=completed_at + REFERRER_BURST_WINDOW,
            )
            .exclude(pk=referral.pk)
            .order_by("completed_at", "pk")
            .values_list("pk", "completed_at")
        )
    return FirstOrderFacts(
        order=order.external_id, completed_at=completed_at, referrer_qualified_nearby=nearby, **card_facts
    )


def inviter_name(*, request, typed_code: str = "") -> str:
    """First name of the member whose invitation a sign-up would use ("" when none): typed code wins."""
    from referrals.services.attribution import read_attribution

    code = usable_code(typed_code) if typed_code else None
    if code is None:
        attribution = read_attribution(request)
        code = usable_code(attribution.code) if attribution else None
    return code.user.first_name if code else ""


def friend_signup_notice(*, referral) -> str:
    """What the friend reads right after signing up through `referral` (wording: `referrals.explain`)."""
    from accounts.selectors import region_for_country
    from referrals.explain import friend_signup_notice as words

    in_program = True
    if referral.reason_code == ReasonCode.REGION_RESTRICTED:
        # Only the friend's own region decides the wording: the referrer's is never told.
        in_program = region_for_country(str(referral.friend.country)).is_in_program
    return words(
        state=referral.state,
        reason_code=referral.reason_code,
        friend_region_in_program=in_program,
        # A friend flagged at sign-up (a device ring) is told only the security sentence.
        friend_flagged=not referral.friend.may_use_program,
    )


def device_has_account(*, device_id: str) -> bool:
    """Whether any account was already seen on this browser's device cookie."""
    from accounts.identity import keyed_hash
    from accounts.models import AccountDevice

    if not device_id:
        return False
    return AccountDevice.objects.filter(device__id_hash=keyed_hash(device_id, purpose="device")).exists()


# The channels a member shares on, in the order the page shows them.
SHARE_CHANNELS = [c for c in Channel if c not in (Channel.OTHER, Channel.TYPED)]

TABS = {
    "all": ("All", None),
    "progress": ("In progress", IN_PROGRESS_STATES),
    "credited": ("Credited", (ReferralState.CREDITED,)),
    "not_credited": ("Not credited", NOT_CREDITED_STATES),
}
# States that use (or would have used) a monthly slot, in the order they were counted.
COUNTED_STATES = (ReferralState.QUALIFIED, ReferralState.CREDITED, ReferralState.CAPPED)
PER_PAGE = 20


# --- This month's limit ------------------------------------------------------
@dataclass(frozen=True)
class MonthlyProgress:
    count: int
    limit: int
    month: date
    resets_on: date
    time_zone: str

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)

    @property
    def is_full(self) -> bool:
        return self.count >= self.limit

    @property
    def is_near(self) -> bool:
        """The warning zone: two or fewer coupons left (8 of 10), not yet full."""
        return not self.is_full and self.count >= self.limit - 2


def month_bounds(now: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """First day of `now`'s month and of the next month, in the program time zone."""
    local = now.astimezone(tz)
    start = local.date().replace(day=1)
    nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, nxt


def monthly_progress(*, user, now: datetime, region: Region | None = None) -> MonthlyProgress:
    """Coupons credited this program month (the counter row is the authority) and when it resets."""
    region = region or region_for_country(str(user.country))
    tz = ZoneInfo(region.time_zone or "UTC")
    start, nxt = month_bounds(now, tz)
    count = MonthlyRewardCounter.objects.filter(referrer=user, month=start).values_list("count", flat=True).first() or 0
    return MonthlyProgress(
        count=count, limit=region.monthly_limit, month=start, resets_on=nxt, time_zone=region.time_zone
    )


# --- Earnings ------------------------------------------------------------------
def referral_earnings(*, user) -> list[tuple[str, Decimal, int]]:
    """(currency, total value, coupons) of the member's referral coupons, reversed ones excluded."""
    rows = (
        Coupon.objects.filter(owner=user, source=CouponSource.REFERRAL)
        .exclude(status=CouponStatus.VOIDED)
        .values("currency")
        .annotate(total=Sum("value"), n=Count("id"))
        .order_by("currency")
    )
    return [(r["currency"], r["total"], r["n"]) for r in rows]


# --- Funnel per channel -----------------------------------------------------------
@dataclass
class ChannelFunnel:
    channel: str
    label: str
    clicks: int = 0
    clicks_without_signup: int = 0
    signups: int = 0
    first_orders: int = 0
    coupons: int = 0
    # Signed up, welcome coupons issued, no order yet (not rejected, not under review).
    awaiting_first_order: int = 0

    @property
    def signup_rate(self) -> float | None:
        return self.signups / self.clicks if self.clicks else None


@dataclass
class Funnel:
    rows: list[ChannelFunnel]
    total: ChannelFunnel = field(default_factory=lambda: ChannelFunnel("all", "All channels"))
    rejected_already_registered: int = 0

    @property
    def active_rows(self) -> list[ChannelFunnel]:
        return [r for r in self.rows if r.clicks or r.signups]


def channel_funnel(*, user) -> Funnel:
    """Clicks → sign-ups → first orders → coupons per channel: two aggregate queries."""
    labels = dict(Channel.choices)
    rows: dict[str, ChannelFunnel] = {}

    def row(channel: str) -> ChannelFunnel:
        if channel not in rows:
            rows[channel] = ChannelFunnel(channel, labels.get(channel, channel))
        return rows[channel]

    # A referral keeps the channel of the click it came from, so "clicks without a sign-up" is
    # clicks minus referrals that came from a click, per channel (no per-click EXISTS probe).
    clicks = Click.objects.filter(referral_code__user=user).values("channel").annotate(n=Count("id")).order_by()
    for c in clicks:
        row(c["channel"]).clicks = c["n"]

    referrals = (
        Referral.objects.filter(referrer=user)
        .values("channel")
        .annotate(
            n=Count("id"),
            ordered=Count("id", filter=Q(order_placed_at__isnull=False)),
            credited=Count("id", filter=Q(state=ReferralState.CREDITED)),
            awaiting=Count("id", filter=Q(state=ReferralState.REGISTERED)),
            already=Count("id", filter=Q(reason_code="ALREADY_REGISTERED")),
            from_click=Count("id", filter=Q(click__isnull=False)),
        )
        .order_by()
    )
    already = 0
    from_click: dict[str, int] = {}
    for f in referrals:
        r = row(f["channel"])
        r.signups, r.first_orders, r.coupons = f["n"], f["ordered"], f["credited"]
        r.awaiting_first_order = f["awaiting"]
        from_click[f["channel"]] = f["from_click"]
        already += f["already"]
    for r in rows.values():
        r.clicks_without_signup = max(r.clicks - from_click.get(r.channel, 0), 0)

    order = {c.value: i for i, c in enumerate(Channel)}
    ordered_rows = sorted(rows.values(), key=lambda r: order.get(r.channel, 99))
    total = ChannelFunnel("all", "All channels")
    for r in ordered_rows:
        total.clicks += r.clicks
        total.clicks_without_signup += r.clicks_without_signup
        total.signups += r.signups
        total.first_orders += r.first_orders
        total.coupons += r.coupons
        total.awaiting_first_order += r.awaiting_first_order
    return Funnel(rows=ordered_rows, total=total, rejected_already_registered=already)


def cached_channel_funnel(*, user, code: str, version: str = "") -> Funnel:
    """`channel_funnel`, kept INVITE_FUNNEL_CACHE_SECONDS in the shared cache (0 turns the cache off).

    The two aggregates read every click and referral the member ever had, so they are the part of
    Invite Friends that grows with history; the funnel may lag by up to the TTL. The key carries the
    member's code, so a member never reads another member's numbers even where ids are reused, and
    `version` (the page's exact referral counts): a new sign-up or reward refreshes it at once, so
    only link opens may lag.
    """
    ttl = settings.INVITE_FUNNEL_CACHE_SECONDS
    if ttl <= 0:
        return channel_funnel(user=user)
    key = f"invite:funnel:v2:{user.pk}:{code}:{version}"
    try:
        funnel = cache.get(key)
    except Exception:  # the cache only speeds the page up (RELIABILITY.md section 1)
        logger.warning("invite funnel cache unavailable; reading the database", exc_info=True)
        return channel_funnel(user=user)
    if funnel is None:
        funnel = channel_funnel(user=user)
        try:
            cache.set(key, funnel, timeout=ttl)
        except Exception:  # same: a cache failure never fails the page
            logger.warning("invite funnel cache unavailable; not kept", exc_info=True)
    return funnel


# --- The referral cards ---------------------------------------------------------------
def tab_counts(*, user) -> dict[str, int]:
    """How many referrals each filter tab shows: one aggregate query."""
    aggregates = {
        key: Count("id", filter=Q(state__in=states)) if states else Count("id") for key, (_, states) in TABS.items()
    }
    return Referral.objects.filter(referrer=user).aggregate(**aggregates)


def _month_ordinal() -> Case:
    """For a capped referral: its position among the referrals counted in the same program month.

    Needs the `counted_at` and `counted_month` annotations of `referrals_for_page` on the outer query.
    """
    earlier = (
        Referral.objects.filter(referrer=OuterRef("referrer"), state__in=COUNTED_STATES)
        .alias(counted_at=Coalesce("decided_at", "completed_at"))
        .filter(counted_at__gte=OuterRef("counted_month"))
        .filter(Q(counted_at__lt=OuterRef("counted_at")) | Q(counted_at=OuterRef("counted_at"), pk__lte=OuterRef("pk")))
        .order_by()
        .values("referrer")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Case(
        When(state=ReferralState.CAPPED, then=Subquery(earlier, output_field=IntegerField())),
        default=Value(None),
        output_field=IntegerField(),
    )


def referrals_for_page(*, user, tab: str = "all", region: Region | None = None) -> QuerySet[Referral]:
    """The member's referrals for one tab, newest first, with everything a card shows (no per-row queries)."""
    from support.models import SupportRequest

    region = region or region_for_country(str(user.country))
    tz = ZoneInfo(region.time_zone or "UTC")
    states = TABS.get(tab, TABS["all"])[1]
    qs = Referral.objects.filter(referrer=user)
    if states:
        qs = qs.filter(state__in=states)
    open_requests = SupportRequest.objects.filter(
        status__in=[SupportRequest.Status.OPEN, SupportRequest.Status.IN_PROGRESS]
    ).only("id", "referral_id", "status", "kind", "created_at")
    return (
        qs.select_related("friend", "first_order")
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
            "friend__first_name",
            "friend__last_name",
            "first_order__id",
            "first_order__external_id",
        )
        .alias(counted_at=Coalesce("decided_at", "completed_at"))
        .alias(counted_month=TruncMonth("counted_at", tzinfo=tz))
        .annotate(month_ordinal=_month_ordinal())
        # The one stored check a card's wording needs (DEVICE_LIMIT on the referrer's side), not the signals JSON.
        .annotate(referrer_device_limit=KT("signals__checks__referrer_device_limit"))
        .prefetch_related(
            Prefetch(
                "events",
                queryset=ReferralEvent.objects.only(
                    "id", "referral_id", "to_state", "reason_code", "occurred_at"
                ).order_by("occurred_at", "id"),
            ),
            Prefetch("support_requests", queryset=open_requests, to_attr="open_support_requests"),
        )
        .order_by("-registered_at", "-id")
    )


def referral_page(
    *,
    user,
    tab: str = "all",
    page: str | int | None = 1,
    per_page: int = PER_PAGE,
    region: Region | None = None,
    count: int | None = None,
) -> Page:
    """One page of referral cards: a count, the page rows, their timelines and open requests (4 queries).

    Pass `count` (the tab's size from `tab_counts`) to skip the paginator's COUNT query (3 queries).
    """
    paginator = Paginator(referrals_for_page(user=user, tab=tab, region=region), per_page)
    if count is not None:
        paginator.count = count  # a cached_property: the instance attribute replaces the query
    return paginator.get_page(page)


_TIMELINE_TONES = {
    ReferralState.CREDITED: "success",
    ReferralState.QUALIFIED: "success",
    ReferralState.REJECTED: "danger",
    ReferralState.VOIDED: "danger",
    ReferralState.CAPPED: "warning",
    ReferralState.UNDER_REVIEW: "warning",
}


# Choice labels by value: `get_FOO_display()` rebuilds a dict of every choice on each call.
_STATE_LABELS = dict(ReferralState.choices)
_REASON_LABELS = dict(ReasonCode.choices)
_CHANNEL_LABELS = dict(Channel.choices)


def _label(labels: dict, value: str) -> str:
    """What `get_FOO_display()` prints: the choice's label, else the raw value."""
    return str(labels.get(value, value))


@lru_cache(maxsize=1024)
def _day_text(day: date, language: str) -> str:
    """`{{ day|date:"j M Y" }}` ("24 Nov 2026"), once per day and language (the key carries the language)."""
    return date_filter(day, "j M Y")


def _local_day(value: datetime) -> str:
    """What `{{ value|date:"j M Y" }}` prints in the active time zone and language."""
    return _day_text(timezone.localtime(value).date(), get_language() or "")


def _local_minute(value: datetime) -> str:
    """What `{{ value|date:"j M Y, H:i" }}` prints in the active time zone and language."""
    local = timezone.localtime(value)
    return f"{_day_text(local.date(), get_language() or '')}, {local.hour:02d}:{local.minute:02d}"


def referral_cards(referrals, *, now: datetime) -> list[dict]:
    """Everything one card prints, as plain strings made once in Python (no per-row template filters).

    `referrals` come from `referrals_for_page` (friend, events and open support requests prefetched).
    """
    cards = []
    for r in referrals:
        x = explain(r, now=now)
        if r.completed_at:
            order_text = f" · first order completed {_local_minute(r.completed_at)}"
        elif r.order_placed_at:
            order_text = f" · first order placed {_local_day(r.order_placed_at)}"
        else:
            order_text = ""
        timeline = []
        for e in r.events.all():
            label = _label(_STATE_LABELS, e.to_state)
            if e.reason_code and e.reason_code != ReasonCode.ACCOUNT_FLAGGED:
                label = f"{label} — {_label(_REASON_LABELS, e.reason_code)}"
            timeline.append(
                {
                    "tone": _TIMELINE_TONES.get(e.to_state, "info"),
                    "iso": timezone.localtime(e.occurred_at).isoformat(),  # the `c` date format
                    "when": _local_minute(e.occurred_at),
                    "label": label,
                }
            )
        open_request = r.open_support_requests[0] if r.open_support_requests else None
        cards.append(
            {
                "pk": r.pk,
                "friend_name": mask_name(r.friend.first_name, r.friend.last_name),
                "state": r.state,
                "state_label": _label(_STATE_LABELS, r.state),
                "signed_up": f"Signed up {_local_day(r.registered_at)} via {_label(_CHANNEL_LABELS, r.channel)}"
                + order_text,
                "is_credited": r.state == ReferralState.CREDITED,
                "explanation": x,
                "timeline": timeline,
                "open_request": open_request,
                "open_request_status": open_request.get_status_display().lower() if open_request else "",
            }
        )
    return cards


def mask_name(first_name: str, last_name: str = "") -> str:
    """'John Smith' → 'Jo** S.': enough for the referrer to recognise a friend, never the full name or e-mail."""
    first = (first_name or "").strip()
    last = (last_name or "").strip()
    if not first and not last:
        return "A friend"
    if first:
        keep = 1 if len(first) <= 3 else 2
        masked = first[:keep] + "*" * min(max(len(first) - keep, 1), 4)
    else:
        masked = "***"
    return f"{masked} {last[0].upper()}." if last else masked


def _under_review_since_signup() -> Q:
    # Never in another state (every change writes a timeline row), and not a hold at qualification.
    left_review = ReferralEvent.objects.filter(referral=OuterRef("pk")).exclude(
        to_state=ReferralState.UNDER_REVIEW, from_state__in=["", ReferralState.UNDER_REVIEW]
    )
    return Q(state=ReferralState.UNDER_REVIEW) & ~Q(reason_code=ReasonCode.REFERRER_BURST) & ~Q(Exists(left_review))


def review_opened_at_signup(*, referral) -> bool:
    """Under review since sign-up, so the friend's welcome coupons wait on the decision.

    A review opened at the first order (REFERRER_BURST, held at qualification) concerns the
    referrer's reward only: the friend already has their welcome coupons.
    """
    return Referral.objects.filter(_under_review_since_signup(), pk=referral.pk).exists()


def welcome_package_pending(*, friend) -> bool:
    """The friend joined through a link and their welcome coupons wait for a staff review (opened at sign-up)."""
    return Referral.objects.filter(_under_review_since_signup(), friend=friend).exists()


def invite_page_version(*, user) -> str:
    """A string that changes whenever anything Invite Friends shows from the database changes: one query.

    What the cached content shows, and what changes its key (`referrals.views.invite`):
    - tab counts, sign-up / coupon tiles, funnel sign-ups/orders/coupons, the cards' state, reason,
      dates, order and timeline: the member's referrals' count and Max(updated_at) (every transition and
      every fact stored on a referral sets `updated_at`, and timeline rows are only written with one;
      a deleted referral changes the count);
    - "Earned so far": the referral coupons' count and the counts of voided and used ones;
    - a card's open support request (its number and status): count and Max(updated_at) of the support
      requests on the member's referrals;
    - the meter, its notices and the tips: the member's latest monthly counter (month and value; the
      current month's counter is always the latest, and a new month comes with the clock bucket);
    - "expires in", 24 h / 48 h thresholds, the month's reset, a sale event starting or ending (the
      sale tip): the clock (the key's minute bucket);
    - the link, the code, the QR code: the code and the request's scheme and host (in the key);
    - tab, page, language, money locale, time zone and country (the region): in the key.
    What may lag by up to INVITE_PAGE_CACHE_SECONDS: link opens (the funnel's clicks, already cached
    by `cached_channel_funnel`), a friend renaming their account (the masked name), staff edits
    of a Region's program settings and staff adding or editing a sale event (the sale tip).
    """
    sql, params = _invite_version_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk if p == _USER_SENTINEL else p for p in params])
        row = cursor.fetchone()
    return "|".join(
        "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
        for value in (row or ())
    )


# The user's id while the version query's SQL is compiled (no real id): replaced by the real id on each call.
_USER_SENTINEL = -7_356_915_012


@lru_cache(maxsize=4)
def _invite_version_sql(vendor: str) -> tuple[str, tuple]:
    """The version query's SQL, compiled by the ORM once per process (compiling it costs more than running it)."""
    from accounts.models import User
    from support.models import SupportRequest

    def scalar(qs: QuerySet, expression) -> Subquery:
        return Subquery(qs.order_by().annotate(v=expression).values("v")[:1])

    referrals = Referral.objects.filter(referrer=OuterRef("pk")).values("referrer")
    coupons = Coupon.objects.filter(owner=OuterRef("pk"), source=CouponSource.REFERRAL).values("owner")
    requests = SupportRequest.objects.filter(referral__referrer=OuterRef("pk")).values("referral__referrer")
    counter = MonthlyRewardCounter.objects.filter(referrer=OuterRef("pk")).order_by("-month")
    query = (
        User.objects.filter(pk=_USER_SENTINEL)
        .annotate(
            # Count and latest change in one scan of the member's referrals (the part that grows).
            referrals_v=scalar(
                referrals,
                Concat(Cast(Count("id"), CharField()), Value("/"), Cast(Max("updated_at"), CharField())),
            ),
            coupons_n=scalar(coupons, Count("id")),
            coupons_voided=scalar(coupons, Count("id", filter=Q(status=CouponStatus.VOIDED))),
            coupons_used=scalar(coupons, Count("id", filter=Q(status=CouponStatus.USED))),
            requests_n=scalar(requests, Count("id")),
            requests_at=scalar(requests, Max("updated_at")),
            counter_month=Subquery(counter.values("month")[:1]),
            counter_n=Subquery(counter.values("count")[:1]),
        )
        .values_list(
            "referrals_v",
            "coupons_n",
            "coupons_voided",
            "coupons_used",
            "requests_n",
            "requests_at",
            "counter_month",
            "counter_n",
        )
    ).query
    sql, params = query.get_compiler(connection=connection).as_sql()
    assert params.count(_USER_SENTINEL) == 1, "the version query takes the user's id once"
    return sql, tuple(params)


# --- Behaviour (PROGRAM_RULES.md section 6): what staff see on a referrer ---------------
BURST_WINDOW = timedelta(hours=1)
BURST_LOOKBACK = timedelta(days=30)
BURST_FLAG_ABOVE = 3  # more than 3 sign-ups in one hour
SILENT_AFTER = timedelta(days=30)
SILENT_MIN_FRIENDS = 3
SILENT_MIN_RATIO = Decimal("0.80")


@dataclass(frozen=True)
class IdenticalOrderGroup:
    referral_ids: list[int]
    lines: list[tuple[str, int]]  # (product name, quantity)
    total: Decimal
    currency: str


@dataclass(frozen=True)
class Behaviour:
    now: datetime
    # 1. Sign-up bursts on the member's link.
    signups_30d: int
    signups_24h: int
    busiest_hour_count: int
    busiest_hour_start: datetime | None
    # 2. Identical first orders.
    identical_groups: list[IdenticalOrderGroup] = field(default_factory=list)
    compared_first_orders: int = 0
    # 3. Friends who go silent after the first order.
    settled_friends: int = 0
    silent_friends: int = 0

    @property
    def busiest_hour_end(self) -> datetime | None:
        return self.busiest_hour_start + BURST_WINDOW if self.busiest_hour_start else None

    @property
    def is_burst(self) -> bool:
        return self.busiest_hour_count > BURST_FLAG_ABOVE

    @property
    def has_identical_orders(self) -> bool:
        return bool(self.identical_groups)

    @property
    def silent_ratio(self) -> Decimal | None:
        if not self.settled_friends:
            return None
        return Decimal(self.silent_friends) / Decimal(self.settled_friends)

    @property
    def silent_percent(self) -> int | None:
        ratio = self.silent_ratio
        return None if ratio is None else int((ratio * 100).to_integral_value())

    @property
    def is_mostly_silent(self) -> bool:
        ratio = self.silent_ratio
        return self.settled_friends >= SILENT_MIN_FRIENDS and ratio is not None and ratio >= SILENT_MIN_RATIO


def referrer_behaviour(*, referrer, now: datetime) -> Behaviour:
    """The three behaviour signals of a referrer's friends, read-only, in three queries whatever their number.

    1. Busiest hour: for each sign-up of the last 30 days, the sign-ups in [it, it + 1 hour); the largest wins.
    2. Identical first orders: friends' first orders with the same (product, quantity) lines and total.
    3. Silent friends: first order completed over 30 days ago and no other order placed since.
    """
    from orders.models import Order, OrderLine

    friends = Referral.objects.filter(referrer=referrer)
    settled = Q(first_order__isnull=False, completed_at__isnull=False, completed_at__lte=now - SILENT_AFTER)
    came_back = Order.objects.filter(
        buyer_id=OuterRef("friend_id"), placed_at__gte=OuterRef("first_order__placed_at")
    ).exclude(pk=OuterRef("first_order_id"))
    counts = friends.annotate(came_back=Exists(came_back)).aggregate(
        signups_30d=Count("pk", filter=Q(registered_at__gt=now - BURST_LOOKBACK, registered_at__lte=now)),
        signups_24h=Count("pk", filter=Q(registered_at__gt=now - timedelta(hours=24), registered_at__lte=now)),
        settled=Count("pk", filter=settled),
        silent=Count("pk", filter=settled & Q(came_back=False)),
    )

    # Each window starts at a sign-up: the busiest [start, start + 1 hour) always starts at one.
    in_window = (
        Referral.objects.filter(
            referrer=referrer,
            registered_at__gte=OuterRef("registered_at"),
            registered_at__lt=OuterRef("registered_at") + BURST_WINDOW,
        )
        .order_by()
        .values("referrer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    busiest = (
        friends.filter(registered_at__gt=now - BURST_LOOKBACK, registered_at__lte=now)
        .annotate(n=Subquery(in_window, output_field=IntegerField()))
        .order_by("-n", "registered_at")
        .values_list("n", "registered_at")
        .first()
    )

    # One row per line of a friend's first order; grouped here so SQLite and PostgreSQL agree.
    lines = (
        OrderLine.objects.filter(order__referral__referrer=referrer)
        .order_by()
        .values_list("order__referral__pk", "product_id", "name", "quantity", "order__total", "order__currency")
    )
    orders: dict[int, dict] = {}
    for referral_id, product_id, name, quantity, total, currency in lines:
        entry = orders.setdefault(referral_id, {"lines": [], "total": total, "currency": currency})
        # A deleted product keeps its line name: compare by name then.
        entry["lines"].append((product_id if product_id is not None else f"name:{name}", quantity, name))
    groups: dict[tuple, list[int]] = {}
    for referral_id, entry in orders.items():
        key = (tuple(sorted((str(p), q) for p, q, _ in entry["lines"])), entry["total"], entry["currency"])
        groups.setdefault(key, []).append(referral_id)
    identical = []
    for ids in groups.values():
        if len(ids) < 2:
            continue
        ids.sort()
        entry = orders[ids[0]]
        identical.append(
            IdenticalOrderGroup(
                referral_ids=ids,
                lines=sorted((name, q) for _, q, name in entry["lines"]),
                total=entry["total"],
                currency=entry["currency"],
            )
        )
    identical.sort(key=lambda g: (-len(g.referral_ids), g.referral_ids[0]))

    return Behaviour(
        now=now,
        signups_30d=counts["signups_30d"],
        signups_24h=counts["signups_24h"],
        busiest_hour_count=busiest[0] if busiest else 0,
        busiest_hour_start=busiest[1] if busiest else None,
        identical_groups=identical,
        compared_first_orders=len(orders),
        settled_friends=counts["settled"],
        silent_friends=counts["silent"],
    )
