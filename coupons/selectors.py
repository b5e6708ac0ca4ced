"""What the coupon pages and the checkout read."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Protocol

from django.db.models import Count, Q, QuerySet
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from accounts.models import Region, User
from accounts.selectors import region_for_country
from coupons.events import events, running
from coupons.models import (
    EXPIRY_WARNING,
    Campaign,
    Coupon,
    CouponKind,
    CouponSource,
    CouponStatus,
    PromoRedemption,
)
from coupons.stacking import CouponInput, PromoInput
from coupons.titles import GENERATED_TITLES, SYSTEM_TITLES
from lib import sqlonce
from lib.i18n import choice_labels
from lib.money import format_money

# Sources that exist only because of the referral program: not usable where the program is off.
PROGRAM_SOURCES = {CouponSource.REFERRAL, CouponSource.WELCOME}
WALLET_TABS = ("platform", "store", "history")
HISTORY_LIMIT = 50


def usable_coupons(*, member: User) -> QuerySet[Coupon]:
    """The member's usable coupons, soonest expiry first."""
    return Coupon.objects.usable(at=timezone.now()).filter(owner=member).select_related("store").order_by("expires_at")


# --------------------------------------------------------------------------- checkout inputs


def coupon_input(coupon: Coupon, *, region_in_program: bool) -> CouponInput:
    """One coupon as the stacking engine's plain input."""
    return CouponInput(
        id=coupon.pk,
        kind=coupon.kind,
        value=coupon.value,
        min_spend=coupon.min_spend,
        expires_at=coupon.expires_at,
        status=coupon.status,
        currency=coupon.currency,
        store_id=coupon.store_id,
        store_name=coupon.store.name if coupon.store is not None else "",
        region_ok=region_in_program or coupon.source not in PROGRAM_SOURCES,
        title=coupon.display_title,
    )


def checkout_coupon_inputs(*, member: User, include_ids: Collection[int] = ()) -> list[CouponInput]:
    """The member's active coupons plus any of theirs named in `include_ids` (to explain 'already used'); one query
    for coupons, one for the region. Another member's coupon ids are simply not returned."""
    region = region_for_country(str(member.country))
    coupons = (
        Coupon.objects.filter(owner=member)
        .filter(Q(status=CouponStatus.ACTIVE) | Q(pk__in=list(include_ids)))
        .select_related("store")
        .order_by("id")
    )
    return [coupon_input(c, region_in_program=region.is_in_program) for c in coupons]


def resolve_promo_code(*, member: User, code: str) -> PromoInput | None:
    """A typed promo code as the engine's plain input; None for an empty code, `exists=False` for an unknown one."""
    code = (code or "").strip().upper()
    if not code:
        return None
    campaign = Campaign.objects.filter(code=code, kind=CouponKind.PROMO).first()
    if campaign is None:
        return PromoInput(code=code, exists=False)
    member_uses_left = None
    if campaign.per_member_limit:
        used = PromoRedemption.objects.filter(campaign=campaign, member=member, released_at__isnull=True).count()
        member_uses_left = max(0, campaign.per_member_limit - used)
    region = region_for_country(str(member.country))
    return PromoInput(
        code=code,
        campaign_id=campaign.pk,
        value=campaign.value,
        min_spend=campaign.min_spend,
        currency=campaign.currency,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        is_active=campaign.is_active,
        uses_left=None if campaign.usage_limit is None else campaign.usage_limit - campaign.used_count,
        member_uses_left=member_uses_left,
        region_ok=region.is_in_program,
    )


# --------------------------------------------------------------------------- sale events


def sale_event_to_share(*, at: datetime, currency: str, within: timedelta) -> Campaign | None:
    """The big sale event worth sharing for (Invite Friends' tips): one running at `at`, else the next one
    starting within `within`; only events in the member's region currency (others are not theirs). One query."""
    found = sqlonce.instances(_sale_events, currency, at, at + within, limit=1)
    return found[0] if found else None


def _sale_events(currency: str, at: datetime, until: datetime) -> QuerySet[Campaign]:
    soon = Q(is_active=True, starts_at__gt=at, starts_at__lte=until)
    return (
        events()
        .filter(currency=currency)
        .filter(running(at=at) | soon)
        .order_by("starts_at", "id")  # a running event started before any upcoming one
        .only("name", "starts_at", "ends_at")
    )


# --------------------------------------------------------------------------- My Coupons


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """part ÷ whole as a percentage, half-up to one decimal; None when there is no minimum to divide by."""
    if not whole:
        return None
    return (part * 100 / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class WalletCoupon:
    coupon: Coupon
    is_usable: bool
    days_left: int  # days until expiry, rounded up (1 = within a day)
    effective_percent: Decimal | None  # value ÷ min spend
    expiry_tone: str  # badge tone: warning within EXPIRY_WARNING (3 days), danger under a day, muted otherwise
    state_label: str  # Active / Used / Expired / Voided (expired also when past expiry but not yet swept)
    # Display strings made once here, not by template filters per row (docs/performance.md).
    value_text: str = ""  # "$5.00" in the member's locale
    min_spend_text: str = ""  # "$0.00" when there is no minimum
    percent_text: str = ""  # "25" / "12.5" (effective_percent, trailing zeros dropped)
    title_text: str = ""  # the title, else the source's label
    kind_label: str = ""
    expiry_text: str = ""  # "Expires in 3 days" / "Expires in less than a day"
    expires_iso: str = ""
    expires_on: str = ""  # "24 Nov 2026", in the active time zone


@dataclass
class Calculator:
    """Savings calculator (docs/program-rules.md section 9) over a set of coupons."""

    rows: list[WalletCoupon]
    coupon_count: int
    total_discount: Decimal
    required_spend: Decimal
    average_percent: Decimal | None
    currency: str
    is_mixed_currency: bool = False


@dataclass
class Wallet:
    tab: str
    coupons: list[WalletCoupon]
    counts: dict[str, int]
    coins: int
    coins_value: Decimal
    referral_count: int
    referral_limit: int
    month_resets_on: date
    currency: str
    calculator: Calculator
    usable: list[WalletCoupon] = field(default_factory=list)
    total_value: Decimal = Decimal("0.00")
    history_truncated: bool = False


# Many coupons share a day or a percentage: format each once per language (the key carries the
# language because the filters read the active one).
@lru_cache(maxsize=1024)
def _day_text(day: date, language: str) -> str:
    return date_filter(day, "DATE_FORMAT")


@lru_cache(maxsize=1024)
def _percent_text(percent: Decimal, language: str) -> str:
    return floatformat(percent, "-1")


@dataclass(frozen=True)
class _Labels:
    """The words a coupon card prints from its choices and system titles, in one language."""

    kind: dict[str, str]
    status: dict[str, str]
    source: dict[str, str]
    system_titles: dict[str, str]
    generated_titles: dict[str, str]

    def title(self, title: str, source: str) -> str:
        """What `Coupon.display_title` prints (`coupons.titles.system_title`, the title, the source's label)."""
        return (
            self.system_titles.get(title)
            or self.generated_titles.get(source)
            or title
            or self.source.get(source, source)
        )


# `get_FOO_display()` and the lazy titles translate and hash every choice on each call (≈ 0.5 ms a coupon):
# the labels are code, the same for every reader of a language, so they are made once per language.
@lru_cache(maxsize=32)
def _labels(language: str | None) -> _Labels:
    return _Labels(
        kind=choice_labels(CouponKind),
        status=choice_labels(CouponStatus),
        source=choice_labels(CouponSource),
        system_titles={key: str(value) for key, value in SYSTEM_TITLES.items()},
        generated_titles={key: str(value) for key, value in GENERATED_TITLES.items()},
    )


def _wallet_coupon(coupon: Coupon, at: datetime, tz: tzinfo | None = None) -> WalletCoupon:
    is_usable = coupon.is_usable(at)
    seconds_left = (coupon.expires_at - at).total_seconds()
    # Days rounded up, so a coupon expiring the day after tomorrow reads "2 days" (not 1.99 → 1).
    days_left = max(0, math.ceil(seconds_left / 86400))
    if not is_usable:
        tone = "muted"
    elif seconds_left < 86400:
        tone = "danger"
    elif seconds_left < EXPIRY_WARNING.total_seconds():
        tone = "warning"
    else:
        tone = "info"
    labels = _labels(get_language())
    if coupon.status == CouponStatus.ACTIVE:
        state = labels.status[CouponStatus.ACTIVE if is_usable else CouponStatus.EXPIRED]
    else:
        state = labels.status.get(coupon.status, coupon.status)  # what get_status_display() prints
    percent = _percent(coupon.value, coupon.min_spend)
    expires_local = timezone.localtime(coupon.expires_at, tz)
    language = get_language() or ""
    return WalletCoupon(
        coupon=coupon,
        is_usable=is_usable,
        days_left=days_left,
        effective_percent=percent,
        expiry_tone=tone,
        state_label=state,
        value_text=format_money(coupon.value, coupon.currency),
        min_spend_text=format_money(coupon.min_spend, coupon.currency),
        percent_text=_percent_text(percent, language) if percent is not None else "",
        title_text=labels.title(coupon.title, coupon.source),  # Coupon.display_title
        kind_label=labels.kind.get(coupon.kind, coupon.kind),
        expiry_text=(
            _("Expires in less than a day")
            if tone == "danger"
            else ngettext("Expires in %(days)s day", "Expires in %(days)s days", days_left) % {"days": days_left}
        ),
        expires_iso=expires_local.isoformat(),  # what the `c` date format prints
        expires_on=_day_text(expires_local.date(), language),
    )


def savings_calculator(coupons: list[WalletCoupon], *, currency: str) -> Calculator:
    """Coupons, minimum spend, total discount, required spend (sum of minimums: each coupon needs its own order
    when they cannot stack) and average discount (total discount ÷ required spend)."""
    total = sum((w.coupon.value for w in coupons), Decimal("0.00"))
    required = sum((w.coupon.min_spend for w in coupons), Decimal("0.00"))
    return Calculator(
        rows=coupons,
        coupon_count=len(coupons),
        total_discount=total,
        required_spend=required,
        average_percent=_percent(total, required),
        currency=currency,
        is_mixed_currency=len({w.coupon.currency for w in coupons}) > 1,
    )


class ReferralMonth(Protocol):
    """The referral program's meter for this month, as My Coupons shows it (referrals' MonthlyProgress)."""

    count: int
    limit: int
    resets_on: date


def _usable_coupons(member_id: int, at: datetime) -> QuerySet[Coupon]:
    """The member's usable coupons at `at` with their store and campaign, the first to expire first."""
    return (
        Coupon.objects.usable(at=at)
        .filter(owner_id=member_id)
        .select_related("store", "campaign")
        .order_by("expires_at", "id")
    )


def _history_count(member_id: int, at: datetime) -> QuerySet:
    """How many of the member's coupons are history at `at` (used, expired, voided, or past expiry)."""
    history = Coupon.objects.filter(owner_id=member_id).filter(~Q(status=CouponStatus.ACTIVE) | Q(expires_at__lte=at))
    return history.order_by().values("owner").annotate(n=Count("id")).values_list("n")


def wallet_for(
    *,
    member: User,
    referral_month: ReferralMonth,
    tab: str = "platform",
    at: datetime | None = None,
    region: Region | None = None,
) -> Wallet:
    """Everything My Coupons shows, in a constant number of queries (region, usable coupons, history,
    history count) whatever the number of coupons.

    "Referral coupons this month" is Invite Friends' meter, passed in by the view
    (`referrals.selectors.meter.monthly_progress`: the member's MonthlyRewardCounter for the program month in
    the region's time zone), so the two pages always agree: staff manual credits, which do not use a monthly
    slot, are not counted, and a reversed reward's slot given back shows as given back."""
    at = at or timezone.now()
    tab = tab if tab in WALLET_TABS else "platform"
    region = region or region_for_country(str(member.country))

    tz = timezone.get_current_timezone()
    usable = [_wallet_coupon(c, at, tz) for c in sqlonce.instances(_usable_coupons, member.pk, at)]
    platform = [w for w in usable if w.coupon.kind != CouponKind.STORE]
    store = [w for w in usable if w.coupon.kind == CouponKind.STORE]

    history_filter = ~Q(status=CouponStatus.ACTIVE) | Q(expires_at__lte=at)
    counted = sqlonce.rows(_history_count, member.pk, at)
    history_count = counted[0][0] if counted else 0
    history: list[WalletCoupon] = []
    if tab == "history":
        history_qs = (
            Coupon.objects.filter(owner=member)
            .filter(history_filter)
            .select_related("store", "campaign", "used_order")
            .order_by("-expires_at", "-id")[:HISTORY_LIMIT]
        )
        history = [_wallet_coupon(c, at, tz) for c in history_qs]

    shown = {"platform": platform, "store": store, "history": history}[tab]
    return Wallet(
        tab=tab,
        coupons=shown,
        usable=usable,
        total_value=sum((w.coupon.value for w in usable), Decimal("0.00")),
        counts={"platform": len(platform), "store": len(store), "history": history_count},
        coins=member.coins,
        coins_value=(Decimal(member.coins) / 100).quantize(Decimal("0.01")),
        referral_count=referral_month.count,
        referral_limit=referral_month.limit,
        month_resets_on=referral_month.resets_on,
        currency=region.currency,
        calculator=savings_calculator(usable, currency=region.currency),
        history_truncated=tab == "history" and history_count > HISTORY_LIMIT,
    )
