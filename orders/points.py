"""The points a member's completed orders earn, and the level they give (docs/program-rules.md section 8).

- Points: 1 per whole currency unit of the member's completed (not refunded) orders whose completion lies in the
  last 12 months. They are stored on the member with the level by `accounts.levels.set_level_points`, and
  recomputed
  1. when an order completes or is refunded (flows.orders calls `recompute_level` in the same transaction), and
  2. by the sweep `recompute_due_levels` once the oldest counted order leaves the window
     (`User.points_expire_at`, a stored deadline: a missed run is healed by the next one).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from accounts.levels import lock_member, set_level_points
from accounts.models import User
from orders.selectors import completed_spend

POINTS_WINDOW = relativedelta(months=12)


def points_for(amount: Decimal | int | None) -> int:
    """1 point per whole currency unit: $199.99 → 199."""
    return int(Decimal(amount or 0).to_integral_value(rounding=ROUND_FLOOR))


def window_start(at: datetime) -> datetime:
    """Orders completed after this moment count towards the points at `at`."""
    return at - POINTS_WINDOW


@transaction.atomic(savepoint=False)  # nothing to roll back alone; an error ends the caller's transaction
def recompute_level(*, member: User, at: datetime | None = None) -> User:
    """Store the member's points and level as of `at`; one member at a time (row lock), safe to repeat."""
    at = at or timezone.now()
    # The lock orders concurrent recomputes of one member: the later one sees the earlier's order.
    locked = lock_member(pk=member.pk)
    total, oldest = completed_spend(member=locked, completed_after=window_start(at), completed_until=at)
    return set_level_points(
        member=member,
        points=points_for(total),
        points_expire_at=oldest + POINTS_WINDOW if oldest else None,
        at=at,
        locked=locked,
    )


def recompute_due_levels(*, at: datetime | None = None, limit: int = 1000) -> int:
    """Recompute every member whose oldest counted order has left the window; returns how many."""
    at = at or timezone.now()
    ids = list(
        User.objects.filter(points_expire_at__lte=at).order_by("points_expire_at").values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        recompute_level(member=User(pk=pk), at=at)
    return len(ids)
