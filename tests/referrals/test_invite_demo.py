"""Demo data: the demo member's link opens per channel, idempotent."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.management.commands.load_demo_data import MEMBER_EMAIL
from referrals.demo import DEMO_CLICKS
from referrals.models import Click
from referrals.selectors.funnel import channel_funnel

pytestmark = pytest.mark.django_db


def test_demo_clicks_per_channel_are_created_once():
    for _ in range(2):
        call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Click.objects.count() == sum(DEMO_CLICKS.values())
    from accounts.models import User

    funnel = channel_funnel(member=User.objects.get(email=MEMBER_EMAIL))
    assert {r.channel: r.clicks for r in funnel.rows if r.clicks} == DEMO_CLICKS
