"""The terms a referral was promised at sign-up (`referrals.terms`), as a table for staff."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from lib.money import format_money
from referrals.models import Referral
from referrals.terms import referral_terms


def render_terms(referral: Referral) -> SafeString:
    terms = referral_terms(referral)
    reward, welcome = terms.reward, terms.welcome
    package = ", ".join(
        _("%(value)s off %(min_spend)s")
        % {
            "value": format_money(item.value, welcome.currency),
            "min_spend": format_money(item.min_spend, welcome.currency),
        }
        for item in welcome.package
    )
    rows = [
        (_("Frozen"), _("yes, at %(when)s") % {"when": f"{terms.captured_at:%Y-%m-%d %H:%M} UTC"})
        if terms.captured_at
        else (_("Frozen"), _("no snapshot: today's region settings are shown and used")),
        (_("Referrer's reward"), format_money(reward.reward_amount, reward.currency)),
        (_("Minimum spend"), format_money(reward.reward_min_spend, reward.currency)),
        (
            _("Reward coupon validity"),
            ngettext("%(days)s day", "%(days)s days", reward.coupon_valid_days) % {"days": reward.coupon_valid_days},
        ),
        (_("Monthly limit"), str(reward.monthly_limit)),
        (_("Program time zone"), reward.time_zone),
        (_("Friend's welcome package"), package or _("none")),
        (
            _("Welcome coupon validity"),
            ngettext("%(days)s day", "%(days)s days", welcome.coupon_valid_days) % {"days": welcome.coupon_valid_days},
        ),
    ]
    body = format_html_join("", "<tr><th scope='row'>{}</th><td>{}</td></tr>", rows)
    return format_html('<table class="staff-terms">{}</table>', body)
