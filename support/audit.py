"""The audit log of staff actions: who did what to which object, when and why."""

from __future__ import annotations

from django.db import models

from support.models import AuditLog


def record_staff_action(
    *, actor, action: str, target: models.Model, reason: str = "", details: dict | None = None
) -> AuditLog:
    """Append one audit row for a staff action on `target` (call it inside the action's transaction)."""
    return AuditLog.objects.create(
        actor=actor,
        action=action[:60],
        target_type=target._meta.label_lower[:60],
        target_id=str(target.pk)[:40],
        target_repr=str(target)[:200],
        reason=reason,
        details=details or {},
    )
