"""The notification centre (docs/program-rules.md section 9): a bell with the unread count, a page listing every
notice with its link, mark as read (one and all); e-mails and pages name friends the same masked way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from accounts.notify import email_notices
from referrals.reasons import ReferralState
from referrals.services import credit_due_referrals, credit_referral
from referrals.services.notices import notify_ended
from tests.factories import OrderFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/accounts/notifications/"


def notice(member, n: int, **fields) -> Notification:
    return Notification.objects.create(
        user=member, kind="friend_joined", title=f"Notice {n}", body=f"Body {n}", link="/invite/", **fields
    )


def bell(html: str) -> str:
    return html.split('class="nav-link nav-bell"', 1)[1].split("</a>", 1)[0]


def test_url_name():
    assert reverse("accounts:notifications") == URL


def test_the_bell_shows_the_unread_count_on_every_page(client, member):
    notice(member, 1)
    notice(member, 2)
    notice(member, 3, read_at=timezone.now())
    notice(UserFactory(), 4)  # someone else's
    for url in ("/", "/invite/", "/coupons/", URL):
        html = client.get(url).content.decode()
        assert '<span class="bell-count" aria-hidden="true">2</span>' in bell(html)
        assert "Notifications, 2 unread" in bell(html)


def test_the_page_lists_every_notice_with_its_link_newest_first(client, member):
    old = notice(member, 1, read_at=timezone.now())
    new = notice(member, 2)
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    html = client.get(URL).content.decode()
    assert html.index("Notice 2") < html.index("Notice 1")
    assert '<a href="/invite/">Notice 2</a>' in html and "Body 1" in html
    assert html.count(">New<") == 1
    assert f'action="{reverse("accounts:notification_read", args=[new.pk])}"' in html
    assert f'action="{reverse("accounts:notification_read", args=[old.pk])}"' not in html


def test_mark_one_read_then_all_and_the_bell_follows_at_once(client, member):
    first = notice(member, 1)
    notice(member, 2)
    notice(member, 3)
    theirs = notice(UserFactory(), 4)
    client.get("/")  # the bell's count is now cached
    response = client.post(reverse("accounts:notification_read", args=[first.pk]))
    assert response["Location"] == URL
    first.refresh_from_db()
    assert first.read_at is not None
    assert "Notifications, 2 unread" in bell(client.get("/").content.decode())
    # Someone else's notice cannot be marked from here.
    client.post(reverse("accounts:notification_read", args=[theirs.pk]))
    theirs.refresh_from_db()
    assert theirs.read_at is None
    client.post(reverse("accounts:notifications_read_all"))
    assert not Notification.objects.filter(user=member, read_at__isnull=True).exists()
    assert "bell-count" not in bell(client.get("/").content.decode())
    read_at = Notification.objects.get(pk=first.pk).read_at
    client.post(reverse("accounts:notifications_read_all"))
    assert Notification.objects.get(pk=first.pk).read_at == read_at  # read once, never re-stamped


def test_marking_needs_post_and_login(client):
    assert client.get(URL).status_code == 302
    member = UserFactory()
    client.force_login(member)
    assert client.get(reverse("accounts:notifications_read_all")).status_code == 405


def test_notices_and_their_e_mails_name_the_friend_masked_as_the_page_does(django_capture_on_commit_callbacks):
    friend = UserFactory(first_name="Johnathan", last_name="Smithers")
    referral = ReferralFactory(friend=friend, state=ReferralState.QUALIFIED, completed_at=timezone.now())
    referral.first_order = OrderFactory(buyer=friend, completed_at=timezone.now(), state="completed")
    referral.save(update_fields=["first_order"])
    with django_capture_on_commit_callbacks(execute=True):
        credit_referral(referral_id=referral.pk)
        referral.state = ReferralState.VOIDED
        notify_ended(referral=referral, reason_code="FIRST_ORDER_CANCELED")
    notices = list(Notification.objects.filter(user=referral.referrer))
    assert notices
    texts = [n.title + " " + n.body for n in notices] + [m.body + m.subject for m in mail.outbox]
    assert any("Jo**** S." in text for text in texts)
    assert all("Johnathan" not in text and "Smithers" not in text for text in texts)


@pytest.mark.parametrize("path", ["task", "sweep"])
def test_the_credited_notice_and_its_e_mail_name_the_friend_masked_on_both_crediting_paths(
    path, django_capture_on_commit_callbacks
):
    """Both crediting paths build the notice in one batch (referrals.services.batch): the masked name in both."""
    friend = UserFactory(first_name="Johnathan", last_name="Smithers")
    done = timezone.now() - timedelta(hours=30)
    referral = ReferralFactory(friend=friend, state=ReferralState.QUALIFIED, completed_at=done, credit_due_at=done)
    referral.first_order = OrderFactory(buyer=friend, completed_at=done, state="completed")
    referral.save(update_fields=["first_order"])
    with django_capture_on_commit_callbacks(execute=True):
        if path == "task":
            assert credit_referral(referral_id=referral.pk) == ReferralState.CREDITED
        else:
            assert credit_due_referrals() == {"credited": 1}
    credited = Notification.objects.get(user=referral.referrer, kind="referral_credited")
    assert credited.body.startswith("Jo**** S. completed their first order")
    # The e-mail is rendered from the row by the worker's task (accounts.notify.email_notices).
    assert email_notices(dedupe_keys=[credited.dedupe_key]) == 1
    (email,) = [m for m in mail.outbox if m.to == [referral.referrer.email]]
    assert "Jo**** S. completed their first order" in email.body
    assert "Johnathan" not in credited.body + email.body + email.subject
