"""The audit log of staff actions: who did what to which object, when and why."""

from __future__ import annotations

from django.db import models

from accounts.models import User
from support.models import AuditLog


def record_staff_action(
    *,
    actor: User | None,
    action: str,
    target: models.Model | type[models.Model],
    reason: str = "",
    details: dict | None = None,
    target_repr: str = "",
) -> AuditLog:
    """Append one audit row for a staff action on `target` (call it inside the action's transaction).

    `target` is the object acted on, or a model class for actions on many rows (e.g. an export).
    """
    is_instance = isinstance(target, models.Model)
    return AuditLog.objects.create(
        actor=actor,
        action=action[:60],
        target_type=target._meta.label_lower[:60],
        target_id=str(target.pk)[:40] if is_instance else "",
        target_repr=(target_repr or (str(target) if is_instance else ""))[:200],
        reason=reason,
        details=details or {},
    )
