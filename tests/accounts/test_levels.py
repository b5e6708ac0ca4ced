"""Member levels (docs/program-rules.md section 8): points (orders.points), thresholds, the 12-month window.

Anniversary coupons: tests/coupons/test_anniversary.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from accounts import levels
from accounts.forms import LevelAdminForm
from accounts.models import Level, LevelCode, User
from flows import orders as flows
from orders import points as order_points
from tests.factories import UserFactory, completed_order

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)


def fresh(user) -> User:
    return User.objects.get(pk=user.pk)


# --- Thresholds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "level"),
    [
        (0, LevelCode.SILVER),
        (199, LevelCode.SILVER),
        (200, LevelCode.GOLD),
        (499, LevelCode.GOLD),
        (500, LevelCode.PLATINUM),
        (1999, LevelCode.PLATINUM),
        (2000, LevelCode.DIAMOND),
        (10**6, LevelCode.DIAMOND),
    ],
)
def test_level_thresholds_at_their_edges(points, level):
    assert levels.level_for_points(points, levels.all_levels()).code == level


def test_default_levels_come_from_the_data_migration():
    rows = {level.code: level.min_points for level in Level.objects.all()}
    assert rows == {"silver": 0, "gold": 200, "platinum": 500, "diamond": 2000}


@pytest.mark.parametrize(("amount", "points"), [("0", 0), ("0.99", 0), ("199.99", 199), ("200.00", 200)])
def test_one_point_per_whole_currency_unit(amount, points):
    assert order_points.points_for(Decimal(amount)) == points


def test_points_floor_the_sum_of_completed_orders_199_99_is_silver_then_one_cent_more_is_gold():
    member = UserFactory()
    completed_order(buyer=member, total="150.00")
    completed_order(buyer=member, total="49.99")
    assert (fresh(member).level_points, fresh(member).level) == (199, LevelCode.SILVER)
    completed_order(buyer=member, total="0.01")
    assert (fresh(member).level_points, fresh(member).level) == (200, LevelCode.GOLD)


def test_completing_an_order_recomputes_the_level_without_any_other_call():
    member = UserFactory()
    order = completed_order(buyer=member, total="520.00")
    member.refresh_from_db()
    assert member.level == LevelCode.PLATINUM and member.level_points == 520
    assert member.points_expire_at == order.completed_at.replace(year=order.completed_at.year + 1)


def test_orders_that_are_not_completed_or_were_refunded_give_no_points():
    member = UserFactory()
    kept = completed_order(buyer=member, total="300.00")
    refunded = completed_order(buyer=member, total="250.00")
    assert fresh(member).level_points == 550
    flows.refund(order=refunded)
    member.refresh_from_db()
    assert (member.level_points, member.level) == (300, LevelCode.GOLD)
    # Paid or shipped but not completed: nothing.
    from tests.factories import ProductFactory

    open_order = flows.place_order(member=member, lines=[(ProductFactory(), 1)], card_label="Visa 4242")
    flows.pay(order=open_order)
    order_points.recompute_level(member=member)
    assert fresh(member).level_points == 300
    assert kept.pk != refunded.pk


def test_another_members_orders_never_count():
    member, other = UserFactory(), UserFactory()
    completed_order(buyer=other, total="900.00")
    order_points.recompute_level(member=member)
    assert fresh(member).level_points == 0 and fresh(other).level_points == 900


# --- The 12-month window ---------------------------------------------------------------------


def test_an_order_counts_for_exactly_12_months_after_completion():
    member = UserFactory()
    with time_machine.travel(T0, tick=False):
        completed_order(buyer=member, total="250.00", completed_at=T0)
    assert fresh(member).points_expire_at == datetime(2027, 3, 15, 10, 0, tzinfo=UTC)

    with time_machine.travel(datetime(2027, 3, 15, 9, 59, 59, tzinfo=UTC), tick=False):
        assert order_points.recompute_due_levels() == 0  # not due yet
        order_points.recompute_level(member=member)
        assert (fresh(member).level_points, fresh(member).level) == (250, LevelCode.GOLD)

    with time_machine.travel(datetime(2027, 3, 15, 10, 0, tzinfo=UTC), tick=False):
        assert order_points.recompute_due_levels() == 1  # the sweep finds it by its stored deadline
    member.refresh_from_db()
    assert (member.level_points, member.level, member.points_expire_at) == (0, LevelCode.SILVER, None)


def test_ageing_out_one_order_keeps_the_younger_ones_and_moves_the_deadline():
    member = UserFactory()
    with time_machine.travel(T0, tick=False):
        completed_order(buyer=member, total="150.00", completed_at=T0)
    later = T0 + timedelta(days=100)
    with time_machine.travel(later, tick=False):
        completed_order(buyer=member, total="100.00", completed_at=later)
    assert fresh(member).level == LevelCode.GOLD
    with time_machine.travel(T0 + timedelta(days=366), tick=False):
        assert order_points.recompute_due_levels() == 1
        assert order_points.recompute_due_levels() == 0  # nothing more is due: safe to run again
    member.refresh_from_db()
    assert (member.level_points, member.level) == (100, LevelCode.SILVER)
    assert member.points_expire_at == datetime(2027, 6, 23, 10, 0, tzinfo=UTC)


def test_a_missed_sweep_is_healed_by_the_next_one():
    member = UserFactory()
    with time_machine.travel(T0, tick=False):
        completed_order(buyer=member, total="600.00", completed_at=T0)
    with time_machine.travel(T0 + timedelta(days=400), tick=False):
        assert order_points.recompute_due_levels() == 1
    assert fresh(member).level == LevelCode.SILVER


# --- Editable thresholds and benefits ---------------------------------------------------------


def test_program_managers_can_move_a_threshold():
    member = UserFactory()
    completed_order(buyer=member, total="250.00")
    assert fresh(member).level == LevelCode.GOLD
    Level.objects.filter(code=LevelCode.GOLD).update(min_points=300)
    order_points.recompute_level(member=member)
    assert fresh(member).level == LevelCode.SILVER


def _admin_form(code, **changes):
    level = Level.objects.get(code=code)
    data = {
        "code": level.code,
        "min_points": level.min_points,
        "anniversary_coupon_value": level.anniversary_coupon_value,
        "anniversary_coupon_min_spend": level.anniversary_coupon_min_spend,
        "fast_refund_limit": level.fast_refund_limit or "",
        "support_priority": level.support_priority,
        **changes,
    }
    return LevelAdminForm(data, instance=level)


@pytest.mark.parametrize(
    ("code", "changes", "error"),
    [
        (LevelCode.SILVER, {"min_points": 10}, "threshold is 0 points"),
        (LevelCode.GOLD, {"min_points": 0}, "above Silver"),
        (LevelCode.GOLD, {"min_points": 500}, "below Platinum"),
        (LevelCode.DIAMOND, {"min_points": 500}, "above Platinum"),
        (LevelCode.GOLD, {"anniversary_coupon_min_spend": "1.00"}, "minimum spend"),
        (LevelCode.PLATINUM, {"fast_refund_limit": "0"}, "positive amount"),
    ],
)
def test_the_admin_form_keeps_levels_in_order(code, changes, error):
    form = _admin_form(code, **changes)
    assert not form.is_valid()
    assert error in str(form.errors)


def test_the_admin_form_accepts_a_valid_change():
    form = _admin_form(LevelCode.GOLD, min_points=250)
    assert form.is_valid(), form.errors
    form.save()
    assert Level.objects.get(code=LevelCode.GOLD).min_points == 250


def test_level_admin_page_lists_levels(admin_client):
    response = admin_client.get(reverse("admin:accounts_level_changelist"))
    assert response.status_code == 200 and "Platinum" in response.content.decode()


def test_levels_fall_back_to_the_defaults_when_the_table_is_empty():
    Level.objects.all().delete()
    assert [level.min_points for level in levels.all_levels()] == [0, 200, 500, 2000]
    assert levels.level_for_points(2000, levels.all_levels()).code == LevelCode.DIAMOND


# --- Support priority -------------------------------------------------------------------------


def test_diamond_support_requests_come_first():
    diamond, platinum, silver = UserFactory(), UserFactory(), UserFactory()
    completed_order(buyer=diamond, total="2000.00")
    completed_order(buyer=platinum, total="1999.99")
    assert levels.support_priority_for(member=fresh(diamond)) == 0
    assert levels.support_priority_for(member=fresh(platinum)) == 100
    assert levels.support_priority_for(member=silver) == 100
    assert levels.support_priority_for(member=None) == 100


# --- Tasks and beat -----------------------------------------------------------------------------


def test_tasks_wrap_the_services():
    from accounts import tasks
    from coupons import tasks as coupon_tasks

    member = UserFactory()
    with time_machine.travel(T0, tick=False):
        completed_order(buyer=member, total="250.00", completed_at=T0)
    with time_machine.travel(T0 + timedelta(days=370), tick=False):
        assert tasks.recompute_due_levels() == 1
        assert coupon_tasks.issue_anniversary_coupons() == 0


def test_beat_runs_the_level_sweeps():
    from referral_portal.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"accounts.tasks.recompute_due_levels", "accounts.tasks.issue_anniversary_coupons"} <= tasks


# --- Rewards page -----------------------------------------------------------------------------


def test_rewards_page_shows_level_points_and_what_the_next_level_needs(client):
    member = UserFactory()
    completed_order(buyer=member, total="380.00")
    client.force_login(member)
    html = client.get(reverse("accounts:rewards")).content.decode()
    assert "380 of 500 points" in html
    assert "120 more points to reach Platinum" in html
    assert '<meter min="0" max="500" value="380">' in html


def test_rewards_page_for_a_diamond_member_says_top_level(client):
    member = UserFactory()
    completed_order(buyer=member, total="2100.00")
    client.force_login(member)
    html = client.get(reverse("accounts:rewards")).content.decode()
    assert "highest level" in html and "more point" not in html


def test_profile_links_to_rewards(client):
    member = UserFactory()
    client.force_login(member)
    html = client.get(reverse("accounts:profile")).content.decode()
    assert reverse("accounts:rewards") in html and "Silver member" in html


def test_rewards_page_needs_a_login(client):
    response = client.get(reverse("accounts:rewards"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_rewards_page_query_count_does_not_grow_with_events_or_history(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from coupons import coins
    from tests.factories import CampaignFactory

    member = UserFactory()
    client.force_login(member)
    url = reverse("accounts:rewards")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(4):
        CampaignFactory(platform_event=True)
        coins.check_in(member=member, at=T0 + timedelta(days=n))
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)
