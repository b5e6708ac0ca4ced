"""'Remind' on a friend who signed up and has not ordered (docs/program-rules.md section 9): a pre-written reminder
the member sends through their own channels, at most once a day per friend, revealing nothing new about the friend."""

from __future__ import annotations

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from tests.factories import ReferralFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.member(phone_verified=True)]


def friend_of(member, **fields):
    friend = UserFactory(first_name="Johnathan", last_name="Smithers")
    return ReferralFactory(whatsapp_3_days_ago=True, referrer=member, friend=friend, **fields)


def test_only_a_friend_who_signed_up_and_has_not_ordered_has_a_remind_button(client, member):
    waiting = friend_of(member)
    ordered = friend_of(member, state="order_placed", order_placed_at=timezone.now())
    html = client.get("/invite/").content.decode()
    assert reverse("referrals:remind", args=[waiting.pk]) in html
    assert reverse("referrals:remind", args=[ordered.pk]) not in html
    assert client.get(reverse("referrals:remind", args=[ordered.pk])).status_code == 404


def test_the_reminder_is_pre_written_for_the_members_own_channels_and_says_nothing_new(client, member):
    referral = friend_of(member)
    url = reverse("referrals:remind", args=[referral.pk])
    page = client.get(url).content.decode()
    assert "Remind Jo**** S." in page
    sent = client.post(url).content.decode()
    assert "https://wa.me/?text=" in sent and "https://t.me/share/url?text=" in sent and "mailto:?subject=" in sent
    message = "Your welcome coupons on the marketplace are waiting for your first order."
    assert message in sent
    # Nothing about the friend beyond what the card shows, and nothing sent by us.
    assert "Johnathan" not in sent and "Smithers" not in sent and referral.friend.email not in sent
    assert "?ch=" not in sent  # a reminder is no invitation: it never counts in the funnel
    assert mail.outbox == [] and not Notification.objects.filter(user=referral.friend).exists()


def test_reminders_are_limited_to_one_a_day_per_friend(client, member):
    first, second = friend_of(member), friend_of(member)
    with time_machine.travel("2026-12-05 10:00Z", tick=False):
        assert "wa.me" in client.post(reverse("referrals:remind", args=[first.pk])).content.decode()
        again = client.post(reverse("referrals:remind", args=[first.pk]), follow=True)
        assert "You already reminded Jo**** S. today." in again.content.decode()
        assert "wa.me" in client.post(reverse("referrals:remind", args=[second.pk])).content.decode()
    with time_machine.travel("2026-12-06 10:00Z", tick=False):
        assert "wa.me" in client.post(reverse("referrals:remind", args=[first.pk])).content.decode()


def test_another_members_friend_cannot_be_reminded(client, member):
    theirs = ReferralFactory(whatsapp_3_days_ago=True)
    assert client.post(reverse("referrals:remind", args=[theirs.pk])).status_code == 404
