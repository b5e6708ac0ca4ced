"""Member notifications: one row in the portal inbox, and the same message by e-mail.

`notify` is idempotent per `dedupe_key` (a unique column), so a repeated task
or event never sends the same notice twice. The e-mail is an outbox row written
with the notice (ops.services.outbox): sent after commit off the request thread,
retried by the relay if the mail server fails, and sent at most once (`emailed_at`).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Notification, User
from ops.services.outbox import enqueue_call

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
    enqueue_call(target="accounts.notify.email_notice", args=[notice.pk])
    return notice


@transaction.atomic
def email_notice(notification_id: int) -> None:
    """E-mail the notice once (`emailed_at`, checked and set under the row's lock); an outbox target.

    A failed send raises: the notice stays in the inbox and the outbox retries the e-mail later."""
    notice = Notification.objects.select_for_update().select_related("user").get(pk=notification_id)
    if notice.emailed_at is not None:
        return
    context = {"notice": notice, "user": notice.user, "site_url": settings.SITE_URL}
    send_mail(
        subject=render_to_string("emails/notification.subject", context).strip(),
        message=render_to_string("emails/notification.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[notice.user.email],
        html_message=render_to_string("emails/notification.html", context),
    )
    notice.emailed_at = timezone.now()
    notice.save(update_fields=["emailed_at"])
