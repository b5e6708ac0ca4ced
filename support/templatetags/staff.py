"""Template filters of the staff screens."""

from __future__ import annotations

from datetime import timedelta

from django import template

from lib.i18n import field_display

register = template.Library()


@register.filter
def display(obj, field_name: str) -> str:
    """`{{ referral|display:"state" }}`: the label of a field's choice, as `get_state_display` prints it, without
    rebuilding the field's choices on each call (lib.i18n.field_display)."""
    return field_display(obj, field_name)


@register.filter
def duration(value: timedelta | None) -> str:
    """A duration for people: "45 min", "3 h 12 min", "2 d 4 h"."""
    if value is None:
        return "—"
    minutes = max(int(value.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
