"""Click growth: old raw clicks the roll-up has counted are deleted, the funnel never changes (docs/performance.md)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from referrals.models import Click, ClickTally
from referrals.selectors.funnel import channel_funnel
from referrals.services.retention import click_retention, prune_clicks
from referrals.services.rollup import add_old_clicks, roll_up_clicks
from tests.factories import ClickFactory, ReferralCodeFactory, ReferralFactory

pytestmark = pytest.mark.django_db


def funnel_numbers(member):
    funnel = channel_funnel(member=member)
    return {r.channel: (r.clicks, r.clicks_without_signup, r.signups) for r in funnel.rows}, funnel.total.clicks


@pytest.fixture
def history():
    """A code with old clicks (one of them a referral's), recent clicks, and another member's old clicks."""
    code = ReferralCodeFactory()
    old = timezone.now() - timedelta(days=200)
    ClickFactory.create_batch(5, referral_code=code, channel="whatsapp", clicked_at=old)
    ClickFactory.create_batch(3, referral_code=code, channel="email", clicked_at=old)
    evidence = ClickFactory(referral_code=code, channel="whatsapp", clicked_at=old)
    ReferralFactory(code=code, channel="whatsapp", click=evidence)
    ClickFactory.create_batch(2, referral_code=code, channel="whatsapp")
    other = ClickFactory.create_batch(4, referral_code=ReferralCodeFactory(), channel="qr", clicked_at=old)
    return code, evidence, other


def test_old_unreferenced_clicks_are_deleted_once_rolled_up_funnel_unchanged(history):
    code, evidence, other = history
    before = funnel_numbers(code.user)
    assert roll_up_clicks() == 5 + 3 + 1 + 4  # the two recent ones are inside the lag: not yet

    removed = prune_clicks(batch=3)

    assert removed == 5 + 3 + 4
    assert funnel_numbers(code.user) == before
    # What remains raw: the referral's evidence and the recent clicks.
    assert set(Click.objects.filter(referral_code=code).values_list("pk", flat=True)) >= {evidence.pk}
    assert Click.objects.filter(referral_code=code).count() == 1 + 2
    # The tally is the roll-up's: pruning added nothing to it.
    tallies = dict(ClickTally.objects.filter(referral_code=code).values_list("channel", "clicks"))
    assert tallies == {"whatsapp": 5 + 1, "email": 3}
    assert ClickTally.objects.get(referral_code=other[0].referral_code).clicks == 4


def test_nothing_is_deleted_before_the_roll_up_has_counted_it(history):
    code, _, _ = history
    before = funnel_numbers(code.user)
    assert prune_clicks() == 0  # the watermark is still at the start: nothing is counted yet
    assert Click.objects.count() == 5 + 3 + 1 + 2 + 4
    assert not ClickTally.objects.exists()
    assert funnel_numbers(code.user) == before


def test_repeat_deletes_nothing_more_and_later_clicks_wait_for_the_roll_up(history):
    code, _, _ = history
    roll_up_clicks()
    prune_clicks()
    assert prune_clicks() == 0
    # Old-dated clicks inserted after the roll-up (through the one door for back-dated clicks): counted at once,
    # deleted by the next prune, counted once.
    add_old_clicks(
        Click(referral_code=code, channel="email", clicked_at=timezone.now() - timedelta(days=400)) for _ in range(2)
    )
    before = funnel_numbers(code.user)
    assert prune_clicks() == 2
    assert ClickTally.objects.get(referral_code=code, channel="email").clicks == 5
    assert funnel_numbers(code.user) == before


def test_clicks_inside_the_retention_stay():
    code = ReferralCodeFactory()
    ClickFactory.create_batch(3, referral_code=code, clicked_at=timezone.now() - click_retention() + timedelta(hours=1))
    assert roll_up_clicks() == 3
    assert prune_clicks() == 0
    assert Click.objects.filter(referral_code=code).count() == 3


@override_settings(CLICK_RETENTION_DAYS=1, REFERRAL_ATTRIBUTION_DAYS=30)
def test_retention_never_shorter_than_the_attribution_window_plus_a_month():
    assert click_retention() == timedelta(days=60)
    code = ReferralCodeFactory()
    ClickFactory(referral_code=code, clicked_at=timezone.now() - timedelta(days=45))  # a cookie may still hold it
    roll_up_clicks()
    assert prune_clicks() == 0


def test_prune_never_deletes_clicks_newer_than_the_watermark():
    code = ReferralCodeFactory()
    now = timezone.now()
    ClickFactory.create_batch(2, referral_code=code, clicked_at=now - timedelta(days=300))
    ClickFactory.create_batch(3, referral_code=code, clicked_at=now - timedelta(days=200))
    # The roll-up has reached day -250 only (as after a stalled roll-up): the day -200 clicks are not counted yet.
    roll_up_clicks(now=now - timedelta(days=250))
    assert ClickTally.objects.get(referral_code=code).clicks == 2

    assert prune_clicks(now=now) == 2

    assert Click.objects.filter(referral_code=code).count() == 3
    assert funnel_numbers(code.user)[1] == 5


def test_max_batches_bounds_one_run(history):
    roll_up_clicks()
    assert prune_clicks(batch=2, max_batches=2) == 4
    assert prune_clicks(batch=100) == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_pruners_at_once_delete_each_counted_click_once():
    codes = [ReferralCodeFactory() for _ in range(3)]
    old = timezone.now() - timedelta(days=200)
    Click.objects.bulk_create(
        [Click(referral_code=codes[i % 3], channel="whatsapp", clicked_at=old) for i in range(3_000)]
    )
    assert roll_up_clicks() == 3_000
    errors: list[BaseException] = []
    removed: list[int] = []

    def run():
        try:
            removed.append(prune_clicks(batch=100))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Click.objects.count() == 0
    assert sum(removed) == 3_000
    assert sorted(ClickTally.objects.values_list("clicks", flat=True)) == [1_000, 1_000, 1_000]
    assert [channel_funnel(member=c.user).total.clicks for c in codes] == [1_000, 1_000, 1_000]
