"""Demo data: the demo member's link opens per channel, idempotent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.management.commands.load_demo_data import MEMBER_EMAIL
from referrals.demo import DEMO_CLICKS
from referrals.models import Click
from referrals.selectors.funnel import channel_funnel
from referrals.services.retention import prune_clicks
from referrals.services.rollup import roll_up_clicks

pytestmark = pytest.mark.django_db


def test_demo_clicks_per_channel_are_created_once():
    for _ in range(2):
        call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Click.objects.count() == sum(DEMO_CLICKS.values())
    from accounts.models import User

    funnel = channel_funnel(member=User.objects.get(email=MEMBER_EMAIL))
    assert {r.channel: r.clicks for r in funnel.rows if r.clicks} == DEMO_CLICKS


def test_a_re_run_after_the_roll_up_and_pruning_adds_no_clicks():
    from accounts.models import User

    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    later = timezone.now() + timedelta(days=400)
    assert roll_up_clicks(now=later) == sum(DEMO_CLICKS.values())
    assert prune_clicks(now=later) == sum(DEMO_CLICKS.values())  # no raw demo click left

    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert not Click.objects.exists()
    funnel = channel_funnel(member=User.objects.get(email=MEMBER_EMAIL))
    assert {r.channel: r.clicks for r in funnel.rows if r.clicks} == DEMO_CLICKS
