"""Click growth: old raw clicks are tallied and deleted, the funnel never changes (docs/performance.md)."""

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


def test_old_unreferenced_clicks_are_tallied_and_deleted_funnel_unchanged(history):
    code, evidence, other = history
    before = funnel_numbers(code.user)

    removed = prune_clicks(batch=3)

    assert removed == 5 + 3 + 4
    assert funnel_numbers(code.user) == before
    # What remains raw: the referral's evidence and the recent clicks.
    assert set(Click.objects.filter(referral_code=code).values_list("pk", flat=True)) >= {evidence.pk}
    assert Click.objects.filter(referral_code=code).count() == 1 + 2
    tallies = dict(ClickTally.objects.filter(referral_code=code).values_list("channel", "clicks"))
    assert tallies == {"whatsapp": 5, "email": 3}
    assert ClickTally.objects.get(referral_code=other[0].referral_code).clicks == 4


def test_repeat_adds_nothing_and_later_pruning_adds_to_the_tally(history):
    code, _, _ = history
    prune_clicks()
    assert prune_clicks() == 0
    ClickFactory.create_batch(2, referral_code=code, channel="email", clicked_at=timezone.now() - timedelta(days=400))
    assert prune_clicks() == 2
    assert ClickTally.objects.get(referral_code=code, channel="email").clicks == 5


def test_clicks_inside_the_retention_stay():
    code = ReferralCodeFactory()
    ClickFactory.create_batch(3, referral_code=code, clicked_at=timezone.now() - click_retention() + timedelta(hours=1))
    assert prune_clicks() == 0
    assert Click.objects.filter(referral_code=code).count() == 3


@override_settings(CLICK_RETENTION_DAYS=1, REFERRAL_ATTRIBUTION_DAYS=30)
def test_retention_never_shorter_than_the_attribution_window_plus_a_month():
    assert click_retention() == timedelta(days=60)
    code = ReferralCodeFactory()
    ClickFactory(referral_code=code, clicked_at=timezone.now() - timedelta(days=45))  # a cookie may still hold it
    assert prune_clicks() == 0


def test_max_batches_bounds_one_run(history):
    assert prune_clicks(batch=2, max_batches=2) == 4
    assert prune_clicks(batch=100) == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_pruners_at_once_tally_each_click_exactly_once():
    codes = [ReferralCodeFactory() for _ in range(3)]
    old = timezone.now() - timedelta(days=200)
    Click.objects.bulk_create(
        [Click(referral_code=codes[i % 3], channel="whatsapp", clicked_at=old) for i in range(3_000)]
    )
    errors: list[BaseException] = []

    def run():
        try:
            prune_clicks(batch=100)
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
    assert sum(ClickTally.objects.values_list("clicks", flat=True)) == 3_000
    assert sorted(ClickTally.objects.values_list("clicks", flat=True)) == [1_000, 1_000, 1_000]
