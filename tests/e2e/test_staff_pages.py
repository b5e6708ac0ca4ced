"""Every staff page in a real browser: axe-core finds no serious or critical violation, headings go in order, and
the pages staff work from most (dashboard, review queue and page, member page) fit 1280 px and 390 px, and no
page names an internal document (a file name or "program rules, section 6").

Signed in as a superuser so that every page and every action renders; the role tests (tests/support) check what
each role may see and do.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from tests.support.builders import build_world

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

HEADINGS = "() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].filter(h => h.offsetParent !== null)"
HEADING_LEVELS = HEADINGS + ".map(h => Number(h.tagName[1]))"
OVERFLOW = "() => document.documentElement.scrollWidth"
INTERNAL_NAMES = re.compile(r"\b[\w-]+\.md\b|program[-_ ]rules?,? section|\bsection \d+\b", re.I)


def staff_urls(world: dict, member) -> list[tuple[str, str, bool]]:
    """(name, URL, owned): owned pages must also fit 390 px without scrolling sideways."""
    review, coupon, order = world["referral"], world["coupon"], world["order"]
    return [
        ("admin-index", reverse("admin:index"), False),
        ("dashboard", reverse("staff_dashboard"), True),
        ("review-queue", reverse("admin:referrals_referralreview_changelist"), True),
        ("review-page", reverse("admin:referrals_referralreview_change", args=[review.pk]), True),
        ("referral-list", reverse("admin:referrals_referral_changelist"), False),
        ("referral-page", reverse("admin:referrals_referral_change", args=[world["credited"].pk]), True),
        ("member-list", reverse("admin:accounts_user_changelist"), False),
        ("member-page", reverse("admin:accounts_user_change", args=[member.pk]), True),
        ("member-action-form", reverse("admin:accounts_user_act", args=[member.pk, "flag_for_review"]), True),
        ("void-coupon-form", reverse("admin:accounts_user_void_coupon", args=[member.pk, coupon.pk]), True),
        ("coupon-list", reverse("admin:coupons_coupon_changelist"), False),
        ("coupon-page", reverse("admin:coupons_coupon_change", args=[coupon.pk]), False),
        ("ledger-list", reverse("admin:coupons_ledgerentry_changelist"), False),
        ("order-list", reverse("admin:orders_order_changelist"), False),
        ("order-page", reverse("admin:orders_order_change", args=[order.pk]), False),
        ("audit-log", reverse("admin:support_auditlog_changelist"), False),
        ("support-requests", reverse("admin:support_supportrequest_changelist"), False),
        ("referral-codes", reverse("admin:referrals_referralcode_changelist"), False),
        ("clicks", reverse("admin:referrals_click_changelist"), False),
        ("monthly-counters", reverse("admin:referrals_monthlyrewardcounter_changelist"), False),
        ("devices", reverse("admin:accounts_device_changelist"), False),
        ("notifications", reverse("admin:accounts_notification_changelist"), False),
        ("regions", reverse("admin:accounts_region_changelist"), False),
        ("levels", reverse("admin:accounts_level_changelist"), False),
        ("what-if-runs", reverse("admin:referrals_whatifrun_changelist"), False),
        ("what-if-add", reverse("admin:referrals_whatifrun_add"), False),
    ]


def test_every_staff_page_passes_axe_with_headings_in_order(page, login, screenshot, axe_check):
    staff = UserFactory(is_staff=True, is_superuser=True, email="sam.support@example.com")
    world = build_world(staff)
    member = world["code"].user
    login(page, staff)
    results = []
    for name, url, owned in staff_urls(world, member):
        response = page.goto(url)
        assert response.status == 200, (name, url, response.status)
        violations = axe_check(page, f"staff-{name}")
        levels = page.evaluate(HEADING_LEVELS)
        assert levels and levels[0] == 1, (name, levels)
        for before, after in pairwise(levels):
            assert after <= before + 1, f"{name}: heading h{after} follows h{before} ({levels})"
        # No internal document names (file names, "program rules, section 6") on a staff page.
        text = page.inner_text("body")
        assert not INTERNAL_NAMES.search(text), (name, INTERNAL_NAMES.search(text).group(0))
        results.append((name, len(violations)))
        if owned:
            screenshot(page, f"a11y-{name}-1280")
            page.set_viewport_size(PHONE)
            width = page.evaluate(OVERFLOW)
            screenshot(page, f"a11y-{name}-390")
            axe_check(page, f"staff-{name}-390")
            page.set_viewport_size(DESKTOP)
            assert width <= PHONE["width"], f"{name}: the page scrolls sideways at 390 px ({width} px)"
    assert len(results) == len(staff_urls(world, member))
