"""Member notifications: one row in the portal inbox, and the same message by e-mail.

`notify` is idempotent per `dedupe_key` (a unique column), so a repeated task
or event never sends the same notice twice. Its e-mail is an outbox row written
with the notice (ops.services.outbox): sent after commit off the request thread,
retried by the relay if the mail server fails, and sent at most once (`emailed_at`).
`notify_many` writes many notices in one INSERT (the credit sweep) and records, in the same
transaction, an outbox row for the task that e-mails them, so the writer never renders, sends
or waits on the broker, and a hung Redis never loses the e-mails.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.locales import as_member
from accounts.models import Notification, User
from lib.bulk import insert_rows
from ops.services.outbox import enqueue_call, enqueue_task, merge_list_tasks

logger = logging.getLogger(__name__)

# The outbox target that e-mails one notice (checked and marked under the row's lock).
EMAIL_NOTICE_CALL = "accounts.notify.email_notice"


def notify(
    *, member: User, kind: str, title: str, body: str = "", link: str = "", dedupe_key: str | None = None
) -> Notification | None:
    """Create the inbox notice and e-mail it after commit; returns None if `dedupe_key` was already used."""
    try:
        with transaction.atomic():
            notice = Notification.objects.create(
                user=member, kind=kind, title=title[:200], body=body, link=link[:200], dedupe_key=dedupe_key
            )
    except IntegrityError:
        return None
    enqueue_call(target=EMAIL_NOTICE_CALL, args=[notice.pk])
    return notice


@transaction.atomic
def email_notice(notification_id: int) -> bool:
    """E-mail the notice once (`emailed_at`, checked and set under the row's lock); an outbox target.

    Returns False if it was e-mailed already. A failed send raises: the notice stays in the inbox and the
    outbox retries the e-mail later."""
    notice = Notification.objects.select_for_update().select_related("user").get(pk=notification_id)
    if notice.emailed_at is not None:
        return False
    context = {"notice": notice, "user": notice.user, "site_url": settings.SITE_URL}
    # In the recipient's language, whoever's request or task sends it (the notice's words already are).
    with as_member(notice.user):
        subject = render_to_string("emails/notification.subject", context).strip()
        text = render_to_string("emails/notification.txt", context)
        html = render_to_string("emails/notification.html", context)
    send_mail(
        subject=subject,
        message=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[notice.user.email],
        html_message=html,
    )
    notice.emailed_at = timezone.now()
    notice.save(update_fields=["emailed_at"])
    return True


@dataclass(frozen=True)
class Notice:
    member_id: int
    kind: str
    title: str
    body: str = ""
    link: str = ""
    dedupe_key: str | None = None


# The task that e-mails notices written by `notify_many` (accounts.tasks.email_notices), by name: the domain never
# imports tasks.
EMAIL_NOTICES_TASK = "accounts.tasks.email_notices"
merge_list_tasks(EMAIL_NOTICES_TASK)  # `email_notices(a + b)` e-mails what `(a)` and `(b)` would: one relay message


def notify_many(notices: Sequence[Notice], *, email_now: bool = True) -> int:
    """Write inbox notices in one INSERT (a used `dedupe_key` is skipped) and e-mail them from a task after commit.

    Returns how many notices were given. Nothing is rendered or sent here: the task that e-mails the notices
    that were new (`email_notices`) is an outbox row written in the caller's transaction, published after
    commit, or by the relay once the broker answers again. `email_now=False` (the credit task, thousands at a
    time on a sale day) leaves the row to the next relay pass, seconds later, which merges such rows into one
    message: the crediting path then publishes nothing itself.
    """
    if not notices:
        return 0
    now = timezone.now()
    insert_rows(
        Notification,
        ("user", "kind", "title", "body", "link", "dedupe_key", "created_at"),
        [(n.member_id, n.kind, n.title[:200], n.body, n.link[:200], n.dedupe_key, now) for n in notices],
        ignore_conflicts=True,
    )
    keys = [n.dedupe_key for n in notices if n.dedupe_key]
    if keys:
        enqueue_task(name=EMAIL_NOTICES_TASK, args=[keys], publish_now=email_now)
    return len(notices)


def email_notices(*, dedupe_keys: Sequence[str]) -> int:
    """E-mail the notices with these keys that were not e-mailed yet (a worker runs this); returns how many.

    Each goes through `email_notice` (once only). One that fails is logged and left to the outbox, which
    retries it with a growing delay; the others are still sent."""
    sent = 0
    pending = Notification.objects.filter(dedupe_key__in=list(dedupe_keys), emailed_at__isnull=True)
    for notification_id in pending.values_list("pk", flat=True):
        try:
            sent += email_notice(notification_id)
        except Exception:
            logger.warning("notification %s: e-mail failed; the outbox retries it", notification_id, exc_info=True)
            enqueue_call(target=EMAIL_NOTICE_CALL, args=[notification_id])
    return sent
