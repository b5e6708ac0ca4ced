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


def test_notify_many_writes_rows_and_hands_their_emails_to_a_worker(django_capture_on_commit_callbacks, monkeypatch):
    from accounts import notify as notify_module
    from accounts.notify import Notice, email_notices, notify_many

    sent_tasks = []
    monkeypatch.setattr(notify_module.current_app, "send_task", lambda name, args: sent_tasks.append((name, args)))
    member, other = UserFactory(), UserFactory()
    notify(member=member, kind="reward", title="Earlier", dedupe_key="reward:1")
    notices = [
        Notice(member_id=member.pk, kind="reward", title="Again", dedupe_key="reward:1"),  # key used: skipped
        Notice(member_id=member.pk, kind="reward", title="Second", body="b", link="/coupons/", dedupe_key="reward:2"),
        Notice(member_id=other.pk, kind="limit", title="Limit", dedupe_key="limit:1"),
    ]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_many(notices) == 3
    assert len(mail.outbox) == 0  # nothing rendered or sent by the writer
    assert sent_tasks == [("accounts.tasks.email_notices", [["reward:1", "reward:2", "limit:1"]])]
    assert list(Notification.objects.filter(user=member).order_by("pk").values_list("title", flat=True)) == [
        "Earlier",
        "Second",
    ]
    # The worker e-mails the new ones once ("reward:1" was e-mailed by notify already).
    Notification.objects.filter(dedupe_key="reward:1").update(emailed_at="2026-01-01T00:00:00Z")
    assert email_notices(dedupe_keys=["reward:1", "reward:2", "limit:1"]) == 2
    assert email_notices(dedupe_keys=["reward:1", "reward:2", "limit:1"]) == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted([member.email, other.email])


def test_a_failed_hand_off_keeps_the_notices(django_capture_on_commit_callbacks, monkeypatch):
    from accounts import notify as notify_module
    from accounts.notify import Notice, notify_many

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(notify_module.current_app, "send_task", broker_down)
    member = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notify_many([Notice(member_id=member.pk, kind="reward", title="Kept", dedupe_key="reward:9")])
    assert Notification.objects.get(dedupe_key="reward:9").emailed_at is None
