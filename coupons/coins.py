"""Coins: the one coins service (docs/program-rules.md section 8).

Every change of `User.coins` goes through `move_coins`, which writes one `CoinLedger` row per idempotency key:
the daily check-in, exchanging coins for a coupon, coins spent at checkout (`spend_at_checkout`, called by
`coupons.services.redemption.redeem_for_order`) and coins given back when an order is canceled before payment
(`return_from_order`). So each member's ledger sums to their balance, and the Rewards page's coin history shows
every movement.

The balance only moves by conditional UPDATEs (`coins = coins + n`, or `coins = coins - n WHERE coins >= n`), so it
can never go negative nor lose a concurrent change. How many coins a checkout may take (100 coins = 1.00, at most
10% of what is left) is the stacking engine's rule (`coupons.stacking.coins_cap`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.levels import member_zone
from accounts.models import User
from accounts.selectors import region_for_country
from coupons.models import CheckIn, CoinLedger, Coupon, CouponKind, CouponSource
from coupons.services.issuing import issue_coupon
from lib.errors import DomainError
from orders.models import Order

# Check-in rewards: 10 coins on the first day of a streak, 5 more each further day, at most 40 (day 7 on).
STREAK_BASE = 10
STREAK_STEP = 5
STREAK_CAP = 40


class CoinError(DomainError):
    """A refused coin action; `message` is for the member."""

    code = "COIN_REFUSED"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class AlreadyCheckedIn(CoinError):
    def __init__(self, check_in: CheckIn | None = None) -> None:
        super().__init__("ALREADY_CHECKED_IN", _("You have already checked in today. Come back tomorrow!"))
        self.check_in = check_in


class InsufficientCoins(CoinError):
    def __init__(self, *, needed: int, balance: int) -> None:
        super().__init__(
            "INSUFFICIENT_COINS",
            _("You need %(needed)s coins for this; you have %(balance)s. Check in daily to earn more.")
            % {"needed": needed, "balance": balance},
        )


@dataclass(frozen=True)
class CoinOffer:
    """A platform coupon members can buy with coins."""

    code: str
    cost: int
    value: Decimal
    min_spend: Decimal
    valid_days: int = 30

    @property
    def title(self) -> str:
        """The coupon's title: its value and minimum spend are printed beside it, with their currency."""
        return "Bought with coins"


COIN_OFFERS: dict[str, CoinOffer] = {
    offer.code: offer
    for offer in [
        CoinOffer(code="5-off-25", cost=500, value=Decimal("5.00"), min_spend=Decimal("25.00")),
        CoinOffer(code="12-off-60", cost=1200, value=Decimal("12.00"), min_spend=Decimal("60.00")),
    ]
}

_TOKEN = re.compile(r"^[0-9a-f]{32}$")


# --- Rules ------------------------------------------------------------------------------


def coins_for_streak(streak: int) -> int:
    """10, 15, 20, … up to 40 coins for day 1, 2, 3, … of a streak."""
    return min(STREAK_BASE + STREAK_STEP * (max(streak, 1) - 1), STREAK_CAP)


def next_streak(*, last_day: date | None, last_streak: int, today: date) -> int:
    """The streak a check-in today continues: yesterday's + 1, else a new streak of 1."""
    return last_streak + 1 if last_day == today - timedelta(days=1) else 1


def local_day(*, member: User, at: datetime) -> date:
    """The date in the member's time zone at `at`."""
    return at.astimezone(member_zone(member)).date()


# --- The ledger: the one write path -------------------------------------------------------


@transaction.atomic
def move_coins(
    *,
    member: User,
    delta: int,
    kind: str,
    idempotency_key: str,
    reason: str,
    order=None,
    coupon: Coupon | None = None,
    actor: User | None = None,
    at: datetime | None = None,
) -> CoinLedger:
    """Add (or with a negative delta, spend) coins once per idempotency key; the balance never goes below 0.

    A repeated key returns the first row and moves nothing. Raises InsufficientCoins.
    """
    if delta == 0:
        raise ValueError("A coin movement must change the balance.")
    # Lock the member's row first: a concurrent call with the same key waits,
    # then finds the committed ledger row below.
    User.objects.select_for_update().filter(pk=member.pk).values_list("pk", flat=True).get()
    existing = CoinLedger.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    members = User.objects.filter(pk=member.pk)
    if delta < 0:
        members = members.filter(coins__gte=-delta)
    if not members.update(coins=F("coins") + delta):
        balance = User.objects.filter(pk=member.pk).values_list("coins", flat=True).get()
        raise InsufficientCoins(needed=-delta, balance=balance)
    balance = User.objects.filter(pk=member.pk).values_list("coins", flat=True).get()
    entry = CoinLedger.objects.create(
        member_id=member.pk,
        delta=delta,
        balance_after=balance,
        kind=kind,
        reason=reason[:300],
        idempotency_key=idempotency_key,
        order=order,
        coupon=coupon,
        actor=actor,
        created_at=at or timezone.now(),
    )
    member.coins = balance
    return entry


# --- Checkout -------------------------------------------------------------------------------


def spend_at_checkout(*, member: User, coins: int, order: Order, at: datetime | None = None) -> CoinLedger:
    """Take `coins` for `order` (once per order: key coins-checkout:order:<id>). Raises InsufficientCoins."""
    return move_coins(
        member=member,
        delta=-coins,
        kind=CoinLedger.Kind.CHECKOUT,
        idempotency_key=f"coins-checkout:order:{order.pk}",
        reason=f"{coins} coins at checkout (order {order.external_id})",
        order=order,
        at=at,
    )


def return_from_order(*, member: User, coins: int, order: Order, at: datetime | None = None) -> CoinLedger:
    """Give back the coins `order` took, once (key coins-return:order:<id>): it was canceled before payment."""
    return move_coins(
        member=member,
        delta=coins,
        kind=CoinLedger.Kind.RETURN,
        idempotency_key=f"coins-return:order:{order.pk}",
        reason=f"Coins returned: order {order.external_id} canceled before payment",
        order=order,
        at=at,
    )


# --- Daily check-in ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckInResult:
    check_in: CheckIn
    balance: int


@transaction.atomic
def check_in(*, member: User, at: datetime | None = None) -> CheckInResult:
    """Give today's check-in coins at most once per local day, whatever the double clicks or races.

    1. today is the member's local date (User.time_zone);
    2. a day on or before the last check-in is refused (changing time zone can't add a day);
    3. the (user, day) row is the claim: its unique constraint lets exactly one request through;
    4. the coins and their ledger row commit with it.
    Raises AlreadyCheckedIn.
    """
    at = at or timezone.now()
    today = local_day(member=member, at=at)
    last = CheckIn.objects.filter(user=member).order_by("-day").first()
    if last is not None and last.day >= today:
        raise AlreadyCheckedIn(last)
    streak = next_streak(last_day=last.day if last else None, last_streak=last.streak if last else 0, today=today)
    coins = coins_for_streak(streak)
    try:
        with transaction.atomic():
            row = CheckIn.objects.create(user=member, day=today, streak=streak, coins=coins, created_at=at)
    except IntegrityError:
        raise AlreadyCheckedIn(CheckIn.objects.filter(user=member, day=today).first()) from None
    entry = move_coins(
        member=member,
        delta=coins,
        kind=CoinLedger.Kind.CHECK_IN,
        idempotency_key=f"check-in:{member.pk}:{today.isoformat()}",
        reason=f"Daily check-in {today.isoformat()} (day {streak} of a streak)",
        at=at,
    )
    return CheckInResult(check_in=row, balance=entry.balance_after)


# --- Exchange ------------------------------------------------------------------------------


def clean_token(token: str) -> str:
    """The form's one-time token if well formed (32 hex characters), else ''."""
    token = (token or "").strip().lower()
    return token if _TOKEN.match(token) else ""


@transaction.atomic
def exchange_coins(*, member: User, offer_code: str, request_token: str = "", at: datetime | None = None) -> Coupon:
    """Turn coins into one platform coupon, atomically; the same request token never exchanges twice.

    Raises CoinError (unknown offer) or InsufficientCoins.
    """
    offer = COIN_OFFERS.get(offer_code)
    if offer is None:
        raise CoinError("UNKNOWN_OFFER", _("This offer is not available. Choose one of the offers shown."))
    at = at or timezone.now()
    token = clean_token(request_token) or uuid.uuid4().hex
    key = f"coins-exchange:{member.pk}:{offer.code}:{token}"
    earlier = CoinLedger.objects.filter(idempotency_key=key).only("coupon_id").first()
    if earlier is not None and earlier.coupon_id is not None:  # the same request again (double click)
        return Coupon.objects.get(pk=earlier.coupon_id)
    # The coin row is append-only (lib.appendonly), so it is written once, naming its coupon: the coupon first,
    # then the coins; too few coins undoes the coupon with the savepoint.
    with transaction.atomic():
        coupon = issue_coupon(
            member=member,
            source=CouponSource.COINS,
            kind=CouponKind.PLATFORM,
            value=offer.value,
            min_spend=offer.min_spend,
            currency=region_for_country(str(member.country)).currency,
            valid_days=offer.valid_days,
            idempotency_key=key,
            reason=f"Bought with {offer.cost} coins",
            title=offer.title,
            issued_at=at,
        )
        entry = move_coins(
            member=member,
            delta=-offer.cost,
            kind=CoinLedger.Kind.EXCHANGE,
            idempotency_key=key,
            reason=f"Exchanged for a {offer.value} off {offer.min_spend} coupon",
            coupon=coupon,
            at=at,
        )
    return coupon if entry.coupon_id in (None, coupon.pk) else Coupon.objects.get(pk=entry.coupon_id)
