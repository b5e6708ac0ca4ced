from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts import notify as notify_module
from accounts.models import Notification
from accounts.notify import notify
from accounts.tasks import email_notices as email_notices_task
from ops.models import OutboxMessage
from ops.tasks import relay_outbox
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


def test_notify_many_writes_rows_and_hands_their_emails_to_a_worker(django_capture_on_commit_callbacks):
    from accounts.notify import Notice, email_notices, notify_many

    member, other = UserFactory(), UserFactory()
    notify(member=member, kind="reward", title="Earlier", dedupe_key="reward:1")
    notices = [
        Notice(member_id=member.pk, kind="reward", title="Again", dedupe_key="reward:1"),  # key used: skipped
        Notice(member_id=member.pk, kind="reward", title="Second", body="b", link="/coupons/", dedupe_key="reward:2"),
        Notice(member_id=other.pk, kind="limit", title="Limit", dedupe_key="limit:1"),
    ]
    mail.outbox.clear()
    with (
        mock.patch("ops.services.outbox.publish_task") as publish,
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        assert notify_many(notices) == 3
        # The task is an outbox row written in the writer's transaction; nothing is published before commit.
        message = OutboxMessage.objects.get(target="accounts.tasks.email_notices")
        assert message.args == [["reward:1", "reward:2", "limit:1"]]
        publish.assert_not_called()
    assert len(mail.outbox) == 0  # nothing rendered or sent by the writer
    publish.assert_called_once_with("accounts.tasks.email_notices", [["reward:1", "reward:2", "limit:1"]])
    message.refresh_from_db()
    assert message.dispatched_at is not None
    assert list(Notification.objects.filter(user=member).order_by("pk").values_list("title", flat=True)) == [
        "Earlier",
        "Second",
    ]
    # The worker e-mails the new ones once ("reward:1" was e-mailed by notify already).
    Notification.objects.filter(dedupe_key="reward:1").update(emailed_at="2026-01-01T00:00:00Z")
    assert email_notices(dedupe_keys=["reward:1", "reward:2", "limit:1"]) == 2
    assert email_notices(dedupe_keys=["reward:1", "reward:2", "limit:1"]) == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted([member.email, other.email])


def test_a_failed_hand_off_keeps_the_notices_and_their_emails_go_once_the_broker_is_back(
    django_capture_on_commit_callbacks,
):
    from accounts.notify import Notice, notify_many

    member = UserFactory()
    broker_down = mock.patch("ops.services.outbox.publish_task", side_effect=OperationalError("broker down"))
    with broker_down as publish, django_capture_on_commit_callbacks(execute=True):
        notify_many([Notice(member_id=member.pk, kind="reward", title="Kept", dedupe_key="reward:9")])
    publish.assert_called_once()
    assert Notification.objects.get(dedupe_key="reward:9").emailed_at is None
    # Not lost: the task waits in the outbox (an outage counts no attempt) and the relay publishes it later.
    message = OutboxMessage.objects.get(target="accounts.tasks.email_notices")
    assert (message.args, message.dispatched_at, message.attempts) == ([["reward:9"]], None, 0)
    with mock.patch("ops.services.outbox.publish_task") as publish:
        assert relay_outbox() == {"dispatched": 1}
    publish.assert_called_once_with("accounts.tasks.email_notices", [["reward:9"]])
    # The worker then runs it (twice, as a redelivered message would): one e-mail.
    assert email_notices_task(["reward:9"]) == 1
    assert email_notices_task(["reward:9"]) == 0
    assert [m.to for m in mail.outbox] == [[member.email]]
    assert Notification.objects.get(dedupe_key="reward:9").emailed_at is not None


def test_a_failed_email_in_the_batch_is_retried_by_the_outbox_and_the_others_go(django_capture_on_commit_callbacks):
    from accounts.notify import Notice, email_notices, notify_many

    member, other = UserFactory(), UserFactory()
    with mock.patch("ops.services.outbox.publish_task"), django_capture_on_commit_callbacks(execute=True):
        notify_many(
            [
                Notice(member_id=member.pk, kind="reward", title="Fails", dedupe_key="reward:1"),
                Notice(member_id=other.pk, kind="reward", title="Goes", dedupe_key="reward:2"),
            ]
        )
    real_send = notify_module.send_mail

    def first_member_fails(*args, recipient_list, **kwargs):
        if recipient_list == [member.email]:
            raise OSError("mail server refused")
        return real_send(*args, recipient_list=recipient_list, **kwargs)

    failing = mock.patch("accounts.notify.send_mail", side_effect=first_member_fails)
    with failing, django_capture_on_commit_callbacks(execute=True):
        assert email_notices(dedupe_keys=["reward:1", "reward:2"]) == 1
    assert [m.to for m in mail.outbox] == [[other.email]]
    failed = Notification.objects.get(dedupe_key="reward:1")
    assert failed.emailed_at is None
    retry = OutboxMessage.objects.get(target="accounts.notify.email_notice")
    assert retry.args == [failed.pk]
    assert retry.dispatched_at is None and retry.attempts == 1  # the inline dispatch tried once more
    # The mail server is back: the relay sends it, once.
    OutboxMessage.objects.filter(pk=retry.pk).update(next_attempt_at=timezone.now())
    assert relay_outbox() == {"dispatched": 1}
    assert relay_outbox() == {}
    assert sorted(m.to[0] for m in mail.outbox) == sorted([member.email, other.email])
