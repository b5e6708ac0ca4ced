"""Member notifications: one row in the portal inbox, and the same message by e-mail.

`notify` is idempotent per `dedupe_key` (a unique column), so a repeated task
or event never sends the same notice twice.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.locales import as_member
from accounts.models import Notification, User

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


def _email(notification_id: int) -> None:
    # A failed e-mail must never undo the notice: log it, the inbox still has it.
    notice = Notification.objects.select_related("user").get(pk=notification_id)
    context = {"notice": notice, "user": notice.user, "site_url": settings.SITE_URL}
    try:
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
    except Exception:
        logger.exception("notification %s: e-mail failed", notification_id)
        return
    Notification.objects.filter(pk=notification_id).update(emailed_at=timezone.now())
