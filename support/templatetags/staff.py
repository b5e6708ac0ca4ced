"""Template filters of the staff screens."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from lib.i18n import field_display
from referrals.admin.panels import timeline_html

register = template.Library()


@register.filter
def display(obj, field_name: str) -> str:
    """`{{ referral|display:"state" }}`: the label of a field's choice, as `get_state_display` prints it, without
    rebuilding the field's choices on each call (lib.i18n.field_display)."""
    return field_display(obj, field_name)


@register.filter
def timeline(events) -> SafeString:
    """`{{ referral.events.all|timeline }}`: the referral's timeline (referrals.admin.panels.timeline_html)."""
    return timeline_html(events)


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


# The format characters of Django's `date` filter (django.utils.dateformat) that print digits, the same in every
# language: a format made only of them and punctuation becomes one str.format pattern, compiled once.
_NUMERIC = {
    "Y": "{0.year:04d}",
    "m": "{0.month:02d}",
    "d": "{0.day:02d}",
    "H": "{0.hour:02d}",
    "i": "{0.minute:02d}",
    "s": "{0.second:02d}",
}


@lru_cache(maxsize=64)
def _numeric_pattern(date_format: str) -> str | None:
    parts = []
    for char in date_format:
        if char in _NUMERIC:
            parts.append(_NUMERIC[char])
        elif char.isalpha() or char == "\\":
            return None  # a name, a week day, an escape: Django's own formatter
        else:
            parts.append(char.replace("{", "{{").replace("}", "}}"))
    return "".join(parts)


@register.filter(expects_localtime=True, is_safe=False)
def stamp(value, date_format: str = "Y-m-d H:i") -> str:
    """`{{ when|stamp:"Y-m-d H:i" }}` prints what `{{ when|date:"Y-m-d H:i" }}` does (in the current time zone),
    for formats of digits only ("c" too): Django's filter looks the format up and parses it character by
    character on every call, and the member page of a big referrer formats 700 dates (their timelines)."""
    if isinstance(value, datetime):
        if date_format == "c":
            return value.isoformat()
        pattern = _numeric_pattern(date_format)
        if pattern is not None:
            return pattern.format(value)
    return date_filter(value, date_format)


# Rendered admin menus: (language, path, the menu's content) → HTML. Bounded: a change page's path is new each time.
_SIDEBARS: dict[tuple, SafeString] = {}
_SIDEBARS_MAX = 256
_MENU = "admin/nav_sidebar.html"


def _menu_key(apps) -> tuple:
    """Everything of the app list the menu prints (names, URLs, which models may be added)."""
    return tuple(
        (
            app["app_label"],
            str(app["name"]),
            app["app_url"],
            tuple((m["object_name"], str(m["name"]), m.get("admin_url"), m.get("add_url")) for m in app["models"]),
        )
        for app in apps
    )


def _djangos_menu(engine):
    """Django's admin/nav_sidebar.html, found past this project's override of the same name."""
    ours = engine.find_template(_MENU)[1]
    return engine.find_template(_MENU, skip=[ours])[0]


@register.simple_tag(takes_context=True)
def nav_sidebar(context) -> SafeString:
    """Django's admin menu (its own admin/nav_sidebar.html), rendered once per process for each menu content,
    page path and language: its ~40 models cost a few milliseconds of template work on every staff page, for
    the same HTML. The key holds everything the template reads, so a staff member whose permissions differ,
    another page or another language gets its own rendering."""
    request = context.get("request")
    if request is None:  # no request context processor: Django's template as it is, uncached
        return _djangos_menu(context.template.engine).render(context)
    key = (get_language(), request.path, _menu_key(context.get("available_apps") or ()))
    html = _SIDEBARS.get(key)
    if html is None:
        html = _djangos_menu(context.template.engine).render(context)
        if len(_SIDEBARS) >= _SIDEBARS_MAX:
            _SIDEBARS.clear()
        _SIDEBARS[key] = html
    return html
