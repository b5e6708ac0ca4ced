"""The Jinja2 environment of the member pages' main content (Invite Friends, My Coupons): docs/performance.md.

Those two pages are the ones a member opens most, with a card or a row per friend or coupon; Django's template
language spent a third to a half of their first visit walking its nodes. Their content templates
(`<app>/jinja2/<app>/_*.html`) are Jinja2, compiled to Python once per process; the page around them (base,
header, messages) stays a Django template.

What the content templates have, so they read like the Django templates they replaced:
- translations: `{{ _("…") }}` and `{% trans %}…{% endtrans %}` (newstyle gettext: variables are escaped, a
  `%` in a sentence is written `%%`), through Django's own gettext, so the catalogs under locale/ serve both
  engines; `referral_portal.catalogs` extracts these templates with Jinja2's own Babel extractor and the msgids
  equal the Django ones (`trans trimmed` = `blocktranslate trimmed`, same variable names);
- `url(name, *args)`, `static(path)`, `dtl(template, **context)` (a Django template, e.g. the form partials);
- filters `money(currency)`, `date(format)` (in the reader's time zone, as Django's filter), `floatformat(arg)`.
"""

from __future__ import annotations

from typing import Any

from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext, npgettext, pgettext
from jinja2 import ChainableUndefined, Environment

from lib.money import format_money


def url(name: str, *args: Any, **kwargs: Any) -> str:
    return reverse(name, args=args or None, kwargs=kwargs or None)


def dtl(template_name: str, **context: Any) -> str:
    """A Django template rendered in place (the shared form partials)."""
    return mark_safe(render_to_string(template_name, context))  # noqa: S308 - our own template, autoescaped


def date(value: Any, arg: str | None = None) -> str:
    """Django's `date` filter, after the conversion to the current time zone Django's engine does first."""
    if value in (None, ""):
        return ""
    return date_filter(timezone.template_localtime(value), arg)


def money(amount: Any, currency: str = "USD") -> str:
    return format_money(amount, currency)


def environment(**options: Any) -> Environment:
    # As Django's engine: a missing value renders as nothing, in DEBUG too (no "{{ name }}" in a page).
    options["undefined"] = ChainableUndefined
    options.pop("autoescape", None)
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True, **options)
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
        gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext
    )
    env.globals.update(url=url, static=static, dtl=dtl)
    env.filters.update(money=money, date=date, floatformat=floatformat)
    return env
