import pytest
from django.core import mail

from accounts.models import Notification
from accounts.notify import notify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_notify_writes_inbox_row_and_emails_once_per_dedupe_key(django_capture_on_commit_callbacks):
    member = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = notify(member=member, kind="reward", title="You earned a coupon", dedupe_key="reward:1")
        again = notify(member=member, kind="reward", title="You earned a coupon", dedupe_key="reward:1")
    assert first is not None
    assert again is None
    assert Notification.objects.filter(user=member).count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [member.email]
    assert Notification.objects.get(pk=first.pk).emailed_at is not None
