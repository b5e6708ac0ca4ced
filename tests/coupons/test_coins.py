"""Coins (docs/program-rules.md section 8): daily check-in with streaks, exchange for a coupon, the coin ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse

from accounts.models import User
from coupons import coins
from coupons.models import CheckIn, CoinLedger, Coupon, CouponSource
from tests.concurrency import run_together
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def balance(user) -> int:
    return User.objects.values_list("coins", flat=True).get(pk=user.pk)


def give(user, amount: int, key: str = "test-grant") -> None:
    coins.move_coins(
        member=user, delta=amount, kind=CoinLedger.Kind.MANUAL, idempotency_key=f"{key}:{user.pk}", reason="t"
    )


# --- Streak rules --------------------------------------------------------------------------


@pytest.mark.parametrize(("streak", "amount"), [(1, 10), (2, 15), (3, 20), (6, 35), (7, 40), (8, 40), (30, 40)])
def test_streak_coins_grow_by_5_and_are_capped_at_40(streak, amount):
    assert coins.coins_for_streak(streak) == amount


def test_next_streak_continues_only_from_yesterday():
    today = T0.date()
    assert coins.next_streak(last_day=None, last_streak=0, today=today) == 1
    assert coins.next_streak(last_day=today - timedelta(days=1), last_streak=4, today=today) == 5
    assert coins.next_streak(last_day=today - timedelta(days=2), last_streak=4, today=today) == 1


# --- Check-in ------------------------------------------------------------------------------


def test_check_in_gives_coins_with_a_ledger_row():
    member = UserFactory()
    result = coins.check_in(member=member, at=T0)
    assert (result.check_in.day, result.check_in.streak, result.check_in.coins, result.balance) == (
        T0.date(),
        1,
        10,
        10,
    )
    entry = CoinLedger.objects.get(member=member)
    assert (entry.delta, entry.balance_after, entry.kind) == (10, 10, CoinLedger.Kind.CHECK_IN)
    assert entry.idempotency_key == f"check-in:{member.pk}:2026-03-10"
    assert balance(member) == 10


def test_a_second_check_in_the_same_day_is_refused_and_changes_nothing():
    member = UserFactory()
    coins.check_in(member=member, at=T0)
    with pytest.raises(coins.AlreadyCheckedIn, match="already checked in today"):
        coins.check_in(member=member, at=T0 + timedelta(hours=11, minutes=59))
    assert balance(member) == 10 and CheckIn.objects.count() == 1 and CoinLedger.objects.count() == 1


def test_a_streak_grows_daily_and_a_missed_day_starts_again():
    member = UserFactory()
    gained = [coins.check_in(member=member, at=T0 + timedelta(days=d)).check_in.coins for d in range(8)]
    assert gained == [10, 15, 20, 25, 30, 35, 40, 40]
    restart = coins.check_in(member=member, at=T0 + timedelta(days=9))  # day 8 missed
    assert (restart.check_in.streak, restart.check_in.coins) == (1, 10)
    assert balance(member) == sum(gained) + 10


def test_streak_across_midnight_in_los_angeles():
    member = UserFactory(time_zone="America/Los_Angeles")  # UTC-7 in March 2026 (daylight time)
    first = coins.check_in(member=member, at=datetime(2026, 3, 10, 6, 59, tzinfo=UTC))  # 23:59 on 9 March
    second = coins.check_in(member=member, at=datetime(2026, 3, 10, 7, 1, tzinfo=UTC))  # 00:01 on 10 March
    assert (first.check_in.day.isoformat(), second.check_in.day.isoformat()) == ("2026-03-09", "2026-03-10")
    assert (second.check_in.streak, second.check_in.coins) == (2, 15)
    # Still 10 March in Los Angeles although it is 11 March in UTC.
    with pytest.raises(coins.AlreadyCheckedIn):
        coins.check_in(member=member, at=datetime(2026, 3, 11, 6, 59, tzinfo=UTC))


def test_streak_across_midnight_in_tokyo():
    member = UserFactory(time_zone="Asia/Tokyo")  # UTC+9
    first = coins.check_in(member=member, at=datetime(2026, 3, 10, 14, 59, tzinfo=UTC))  # 23:59 on 10 March
    second = coins.check_in(member=member, at=datetime(2026, 3, 10, 15, 1, tzinfo=UTC))  # 00:01 on 11 March
    assert (first.check_in.day.isoformat(), second.check_in.day.isoformat()) == ("2026-03-10", "2026-03-11")
    assert second.check_in.streak == 2


def test_a_utc_member_gets_one_check_in_where_a_tokyo_member_gets_two():
    member = UserFactory(time_zone="UTC")
    coins.check_in(member=member, at=datetime(2026, 3, 10, 14, 59, tzinfo=UTC))
    with pytest.raises(coins.AlreadyCheckedIn):
        coins.check_in(member=member, at=datetime(2026, 3, 10, 15, 1, tzinfo=UTC))


def test_changing_time_zone_cannot_add_a_check_in():
    member = UserFactory(time_zone="Asia/Tokyo")
    coins.check_in(member=member, at=datetime(2026, 3, 10, 15, 1, tzinfo=UTC))  # 11 March in Tokyo
    member.time_zone = "America/Los_Angeles"  # where it is still 10 March
    member.save(update_fields=["time_zone"])
    with pytest.raises(coins.AlreadyCheckedIn):
        coins.check_in(member=member, at=datetime(2026, 3, 10, 15, 2, tzinfo=UTC))
    assert balance(member) == 10


def test_an_unknown_time_zone_falls_back_to_utc():
    member = UserFactory(time_zone="Mars/Olympus")
    assert coins.check_in(member=member, at=T0).check_in.day == T0.date()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_check_ins_give_coins_once(round_):
    member = UserFactory(time_zone="America/Los_Angeles")
    at = T0 + timedelta(days=round_)
    results, errors = run_together(8, lambda i: coins.check_in(member=User.objects.get(pk=member.pk), at=at))
    assert len(results) == 1
    assert len(errors) == 7 and all(isinstance(e, coins.AlreadyCheckedIn) for e in errors)
    assert CheckIn.objects.filter(user=member).count() == 1
    assert CoinLedger.objects.filter(member=member).count() == 1
    assert balance(member) == 10


# --- Ledger ------------------------------------------------------------------------------------


def test_move_coins_is_idempotent_per_key_and_never_goes_negative():
    member = UserFactory()
    first = coins.move_coins(member=member, delta=50, kind="manual", idempotency_key="k1", reason="grant")
    again = coins.move_coins(member=member, delta=50, kind="manual", idempotency_key="k1", reason="grant")
    assert first.pk == again.pk and balance(member) == 50
    with pytest.raises(coins.InsufficientCoins, match="You need 51 coins for this; you have 50"):
        coins.move_coins(member=member, delta=-51, kind="checkout", idempotency_key="k2", reason="spend")
    spent = coins.move_coins(member=member, delta=-50, kind="checkout", idempotency_key="k3", reason="spend")
    assert (spent.balance_after, balance(member)) == (0, 0)
    assert not CoinLedger.objects.filter(idempotency_key="k2").exists()


def test_the_ledger_explains_the_balance():
    member = UserFactory()
    for d in range(3):
        coins.check_in(member=member, at=T0 + timedelta(days=d))
    give(member, 500)
    coins.exchange_coins(member=member, offer_code="5-off-25")
    total = CoinLedger.objects.filter(member=member).aggregate(s=Sum("delta"))["s"]
    latest = CoinLedger.objects.filter(member=member).order_by("-created_at", "-id").first()
    assert total == balance(member) == latest.balance_after == 45


# --- Exchange -----------------------------------------------------------------------------------


def test_500_coins_buy_a_5_off_25_platform_coupon():
    member = UserFactory()
    give(member, 500)
    coupon = coins.exchange_coins(member=member, offer_code="5-off-25", at=T0)
    assert (coupon.value, coupon.min_spend, coupon.kind, coupon.source) == (
        Decimal("5.00"),
        Decimal("25.00"),
        "platform",
        CouponSource.COINS,
    )
    assert coupon.expires_at == T0 + timedelta(days=30)
    entry = CoinLedger.objects.get(member=member, kind=CoinLedger.Kind.EXCHANGE)
    assert (entry.delta, entry.balance_after, entry.coupon_id) == (-500, 0, coupon.pk)
    assert balance(member) == 0


def test_499_coins_are_not_enough():
    member = UserFactory()
    give(member, 499)
    with pytest.raises(coins.InsufficientCoins, match="You need 500 coins"):
        coins.exchange_coins(member=member, offer_code="5-off-25")
    assert balance(member) == 499 and not Coupon.objects.filter(owner=member).exists()


def test_an_unknown_offer_is_refused():
    member = UserFactory()
    give(member, 5000)
    with pytest.raises(coins.CoinError, match="not available"):
        coins.exchange_coins(member=member, offer_code="1000-off-1")
    assert balance(member) == 5000


def test_the_same_form_token_exchanges_once():
    member = UserFactory()
    give(member, 1500)
    token = "a" * 32
    first = coins.exchange_coins(member=member, offer_code="5-off-25", request_token=token)
    second = coins.exchange_coins(member=member, offer_code="5-off-25", request_token=token)
    assert first.pk == second.pk and balance(member) == 1000
    third = coins.exchange_coins(member=member, offer_code="5-off-25", request_token="b" * 32)
    assert third.pk != first.pk and balance(member) == 500


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_exchanges_never_spend_more_than_the_balance():
    member = UserFactory()
    give(member, 1000)
    results, errors = run_together(
        6, lambda i: coins.exchange_coins(member=User.objects.get(pk=member.pk), offer_code="5-off-25")
    )
    assert len(results) == 2 and len(errors) == 4
    assert all(isinstance(e, coins.InsufficientCoins) for e in errors)
    assert balance(member) == 0
    assert Coupon.objects.filter(owner=member, source=CouponSource.COINS).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_exchange_gives_one_coupon():
    member = UserFactory()
    give(member, 1000)
    token = "c" * 32
    results, errors = run_together(
        5,
        lambda i: (
            coins.exchange_coins(member=User.objects.get(pk=member.pk), offer_code="5-off-25", request_token=token).pk
        ),
    )
    assert errors == [] and len(set(results)) == 1
    assert balance(member) == 500


# --- Views ---------------------------------------------------------------------------------------


def test_check_in_button(client):
    member = UserFactory()
    client.force_login(member)
    html = client.get(reverse("accounts:rewards")).content.decode()
    assert "Check in: +10 coins" in html
    response = client.post(reverse("accounts:check_in"), follow=True)
    html = response.content.decode()
    assert "You checked in: +10 coins." in html and "Checked in today" in html
    response = client.post(reverse("accounts:check_in"), follow=True)
    assert "already checked in today" in response.content.decode()
    assert balance(member) == 10


def test_check_in_needs_post(client):
    client.force_login(UserFactory())
    assert client.get(reverse("accounts:check_in")).status_code == 405


def test_flagged_members_are_refused_coins(client):
    from accounts.services import flag_account

    member = UserFactory()
    flag_account(member=member, reason_code="STAFF_REVIEW")
    client.force_login(member)
    response = client.post(reverse("accounts:check_in"))
    assert response.status_code == 403
    assert "For security reasons, your request cannot be processed." in response.content.decode()
    assert balance(member) == 0


def test_exchange_button_and_messages(client):
    member = UserFactory()
    give(member, 520)
    client.force_login(member)
    html = client.get(reverse("accounts:rewards")).content.decode()
    assert "680 more coins needed" in html  # the 1200-coin offer
    token = html.split('name="token" value="')[1][:32]
    response = client.post(reverse("accounts:exchange_coins"), {"offer": "5-off-25", "token": token}, follow=True)
    assert "is in My Coupons" in response.content.decode()
    assert balance(member) == 20
    response = client.post(reverse("accounts:exchange_coins"), {"offer": "5-off-25", "token": "d" * 32}, follow=True)
    assert response.status_code == 200 and "You need 500 coins" in response.content.decode()
    response = client.post(reverse("accounts:exchange_coins"), {"offer": "nope"}, follow=True)
    assert response.status_code == 200 and "not available" in response.content.decode()


def test_coin_history_on_the_rewards_page(client):
    member = UserFactory()
    coins.check_in(member=member, at=T0)
    client.force_login(member)
    html = client.get(reverse("accounts:rewards")).content.decode()
    assert "Daily check-in" in html and "+10" in html


def test_a_coins_coupon_is_titled_in_words_and_its_amounts_carry_their_currency(client):
    """Issue 15: no "5.00 off 25.00" without a currency; the wallet prints value and minimum spend with it."""
    member = UserFactory()
    give(member, 600)
    coupon = coins.exchange_coins(member=member, offer_code="5-off-25")
    assert coupon.title == "Bought with coins" and not any(ch.isdigit() for ch in coupon.title)
    client.force_login(member)
    html = client.get("/coupons/").content.decode()
    assert "Bought with coins" in html
    assert "$5.00" in html and "Min. spend $25.00 · effective discount 20%" in html
