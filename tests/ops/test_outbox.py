"""ops/services/outbox.py: work that follows a commit is a row; dispatched once, never lost, never waiting."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.models import Notification, User
from accounts.notify import email_notice, notify
from accounts.services import register_member
from lib.breaker import CircuitOpen
from ops.models import OutboxMessage
from ops.services import outbox
from ops.tasks import relay_outbox
from tests.factories import OutboxMessageFactory, UserFactory

pytestmark = pytest.mark.django_db

CREDIT = "referrals.tasks.credit_referral_task"
UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "lib.cache.ReusedClientRedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture
def publish():
    with mock.patch("ops.services.outbox.publish_task") as published:
        yield published


def test_the_row_is_written_in_the_callers_transaction_and_dispatched_only_after_commit(
    publish, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        message = outbox.enqueue_task(name=CREDIT, args=[7])
    publish.assert_not_called()
    for callback in callbacks:
        callback()
    publish.assert_called_once_with(CREDIT, [7])
    message.refresh_from_db()
    assert message.dispatched_at is not None and message.attempts == 0


def test_a_rolled_back_transaction_leaves_no_row_and_sends_nothing(publish, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue_task(name=CREDIT, args=[7])
        raise RuntimeError("the write failed")
    assert not OutboxMessage.objects.exists()
    publish.assert_not_called()


def test_a_row_dispatched_twice_is_published_once(publish):
    message = OutboxMessageFactory(args=[3])
    assert outbox.dispatch([message.pk]) == {"dispatched": 1}
    assert outbox.dispatch([message.pk]) == {}
    assert relay_outbox() == {}
    publish.assert_called_once_with(CREDIT, [3])


def test_the_relay_dispatches_every_due_row_oldest_first_and_repeats_harmlessly(publish):
    rows = [OutboxMessageFactory(args=[n], created_at=timezone.now() - timedelta(minutes=n)) for n in range(5)]
    OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]).update(next_attempt_at=timezone.now())
    assert outbox.relay(batch=2) == {"dispatched": 5}  # three batches in one run
    assert outbox.relay(batch=2) == {}
    assert sorted(call.args[1][0] for call in publish.call_args_list) == [0, 1, 2, 3, 4]


def test_a_missing_broker_leaves_rows_pending_without_counting_attempts_and_calls_still_run(
    django_capture_on_commit_callbacks,
):
    member = UserFactory()
    with mock.patch("ops.services.outbox.publish_task", side_effect=OperationalError("broker down")) as publish:
        with django_capture_on_commit_callbacks(execute=True):
            outbox.enqueue_task(name=CREDIT, args=[1])
            outbox.enqueue_task(name=CREDIT, args=[2])
            notify(member=member, kind="reward", title="A notice", dedupe_key="outage:1")
        assert publish.call_count == 2  # each after-commit dispatch tried (with Redis, the breaker refuses at once)
        assert outbox.relay() == {"outage": 1, "skipped": 1}  # a relay pass stops publishing at the first outage
        assert publish.call_count == 3
    pending = OutboxMessage.objects.filter(dispatched_at__isnull=True)
    assert sorted(m.args[0] for m in pending) == [1, 2]
    assert {m.attempts for m in pending} == {0}
    assert len(mail.outbox) == 1  # the e-mail needs no broker: it went
    # The broker is back: the relay (or any web process's dispatcher) publishes both.
    with mock.patch("ops.services.outbox.publish_task") as publish:
        assert relay_outbox() == {"dispatched": 2}
    assert sorted(call.args[1] for call in publish.call_args_list) == [[1], [2]]


def test_an_open_breaker_skips_publishing_at_once(publish):
    OutboxMessageFactory(args=[1])
    publish.side_effect = CircuitOpen("redis 127.0.0.1:6379: circuit open")
    assert outbox.relay() == {"outage": 1}
    assert OutboxMessage.objects.get().attempts == 0


def test_a_failing_call_is_retried_later_with_a_growing_delay_then_left_for_staff(settings):
    member = UserFactory()
    notice = Notification.objects.create(user=member, kind="reward", title="A notice")
    message = OutboxMessage.objects.create(kind="call", target="accounts.notify.email_notice", args=[notice.pk])
    with mock.patch("accounts.notify.send_mail", side_effect=OSError("mail server down")):
        assert outbox.relay() == {"failed": 1}
        message.refresh_from_db()
        assert message.attempts == 1 and "mail server down" in message.last_error
        assert message.next_attempt_at > timezone.now()
        assert outbox.relay() == {}  # not due yet
        for _ in range(outbox.MAX_ATTEMPTS - 1):
            OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
            assert outbox.relay() == {"failed": 1}
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert outbox.relay() == {}  # given up: visible as failed in the admin and the metrics
    assert OutboxMessage.objects.get(pk=message.pk).attempts == outbox.MAX_ATTEMPTS
    assert mail.outbox == []


def test_a_notice_e_mail_run_twice_is_sent_once():
    member = UserFactory()
    notice = Notification.objects.create(user=member, kind="reward", title="A notice")
    email_notice(notice.pk)
    email_notice(notice.pk)  # a duplicate dispatch (a process died between the send and the commit)
    assert len(mail.outbox) == 1


def test_a_process_that_died_after_commit_leaves_the_row_for_the_relay(publish):
    """The commit happened but the after-commit dispatch never ran (the process restarted)."""
    with transaction.atomic():
        OutboxMessage.objects.create(kind="task", target=CREDIT, args=[9])  # as enqueue, without the kick
    assert relay_outbox() == {"dispatched": 1}
    publish.assert_called_once_with(CREDIT, [9])


@override_settings(CACHES=UNREACHABLE_REDIS)
def test_the_sign_up_e_mail_goes_out_while_the_cache_is_down(django_capture_on_commit_callbacks):
    """Its resend limit answers "refuse" without a cache; the sign-up's own e-mail does not count against it."""
    with django_capture_on_commit_callbacks(execute=True):
        user = register_member(email="nora@example.com", password="pass-for-tests-123", first_name="Nora")
    assert User.objects.filter(pk=user.pk).exists()
    assert [m.to for m in mail.outbox] == [["nora@example.com"]]
    assert "/accounts/verify-email/" in mail.outbox[0].body
    assert OutboxMessage.objects.get(target="accounts.services.send_first_verification_email").dispatched_at


def test_a_wrong_target_fails_the_write_that_names_it():
    with pytest.raises(ImportError):
        outbox.enqueue_call(target="accounts.notify.no_such_function", args=[1])


def test_dispatched_rows_are_pruned_after_a_week_pending_ones_never():
    now = timezone.now()
    old = OutboxMessageFactory(dispatched_at=now - timedelta(days=8))
    recent = OutboxMessageFactory(dispatched_at=now - timedelta(days=6))
    pending = OutboxMessageFactory(created_at=now - timedelta(days=30))
    assert outbox.prune(now=now) == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}
    assert not OutboxMessage.objects.filter(pk=old.pk).exists()


EMAILS = "accounts.tasks.email_notices"  # merged by the relay (accounts.notify registers it)


def test_rows_left_to_the_relay_go_as_one_message_per_mergeable_task(publish, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for keys in (["a", "b"], ["c"], ["b", "d"]):
            outbox.enqueue_task(name=EMAILS, args=[keys], publish_now=False)
        outbox.enqueue_task(name=CREDIT, args=[9], publish_now=False)
    publish.assert_not_called()  # nothing published after commit: the relay's next pass does it
    assert outbox.relay() == {"dispatched": 4}
    assert sorted(map(tuple, (call.args for call in publish.call_args_list))) == [
        (EMAILS, [["a", "b", "c", "d"]]),  # each key once, in order
        (CREDIT, [9]),
    ]
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()
    assert outbox.relay() == {}


def test_merged_rows_stay_pending_together_in_an_outage_and_count_a_failure_together(publish):
    rows = [OutboxMessageFactory(target=EMAILS, args=[[f"k{n}"]]) for n in range(3)]
    publish.side_effect = CircuitOpen("redis 127.0.0.1:6379: circuit open")
    assert outbox.relay() == {"outage": 3}
    assert {(m.dispatched_at, m.attempts) for m in OutboxMessage.objects.all()} == {(None, 0)}
    publish.side_effect = ValueError("a bad message")
    assert outbox.relay() == {"failed": 3}
    assert {m.attempts for m in OutboxMessage.objects.all()} == {1}
    OutboxMessage.objects.update(next_attempt_at=timezone.now())
    publish.side_effect = None
    assert outbox.relay() == {"dispatched": 3}
    publish.assert_called_with(EMAILS, [[f"k{n}" for n in range(3)]])
    assert all(m.dispatched_at for m in OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]))
