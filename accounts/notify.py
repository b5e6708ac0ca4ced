"""Member notifications: one row in the portal inbox, and the same message by e-mail.

`notify` is idempotent per `dedupe_key` (a unique column), so a repeated task
or event never sends the same notice twice. `notify_many` writes many notices in one INSERT (the credit
sweep) and hands their e-mails to a task after commit, so the writer never renders or sends e-mail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Notification, User
from lib.bulk import insert_rows

logger = logging.getLogger(__name__)


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
    transaction.on_commit(lambda: _email(notice.pk))
    return notice


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


def notify_many(notices: Sequence[Notice]) -> int:
    """Write inbox notices in one INSERT (a used `dedupe_key` is skipped) and e-mail them from a task after commit.

    Returns how many notices were given. Nothing is rendered or sent here: the e-mails of the notices that
    were new are sent by `email_notices`, run by a worker once the transaction has committed.
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
    transaction.on_commit(lambda: _hand_off_emails(keys))
    return len(notices)


def _hand_off_emails(dedupe_keys: list[str]) -> None:
    try:
        current_app.send_task(EMAIL_NOTICES_TASK, args=[dedupe_keys])
    except Exception:
        # The notices are in the inbox; their e-mails wait for `email_notices` to be run for them again.
        logger.warning("could not hand %s notice e-mail(s) to the worker", len(dedupe_keys), exc_info=True)


def email_notices(*, dedupe_keys: Sequence[str]) -> int:
    """E-mail the notices with these keys that were not e-mailed yet (a worker runs this); returns how many."""
    sent = 0
    pending = Notification.objects.filter(dedupe_key__in=list(dedupe_keys), emailed_at__isnull=True)
    for notification_id in pending.values_list("pk", flat=True):
        sent += _email(notification_id)
    return sent


def _email(notification_id: int) -> bool:
    # A failed e-mail must never undo the notice: log it, the inbox still has it.
    notice = Notification.objects.select_related("user").get(pk=notification_id)
    context = {"notice": notice, "user": notice.user, "site_url": settings.SITE_URL}
    try:
        send_mail(
            subject=render_to_string("emails/notification.subject", context).strip(),
            message=render_to_string("emails/notification.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notice.user.email],
            html_message=render_to_string("emails/notification.html", context),
        )
    except Exception:
        logger.exception("notification %s: e-mail failed", notification_id)
        return False
    Notification.objects.filter(pk=notification_id).update(emailed_at=timezone.now())
    return True
