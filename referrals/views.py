"""Invite Friends, the program rules page, and the invitation links (click, landing)."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from accounts.decorators import program_member_required
from accounts.forms import PhoneCodeForm, PhoneForm
from accounts.identity import ip_country, keyed_hash
from accounts.locales import region_money_locale_choice
from accounts.models import PhoneVerification, Region, User
from accounts.selectors import pending_phone_code, region_for_country
from coupons.selectors import sale_event_to_share
from lib import ratelimit
from lib.client import client_info, client_ip
from lib.money import format_money, use_money_locale
from referrals import services
from referrals.cookies import read_attribution, set_attribution_cookie
from referrals.models import ReferralCode
from referrals.program import CREDIT_DEADLINE, REMINDER_WINDOW, REMINDERS_PER_FRIEND, SUPPORT_AFTER, hours
from referrals.readiness import readiness
from referrals.reasons import FLAGGED_MESSAGE
from referrals.selectors import cards, funnel, meter, milestones
from referrals.selectors import tallies as tallies_of_referrals
from referrals.selectors.friend import friend_invitation
from referrals.selectors.links import device_has_account, usable_code
from referrals.services import attribution
from referrals.sharing import channel_link, qr_svg, qr_svg_document, reminder_links, share_links
from referrals.tips import SALE_LOOKAHEAD, SaleEvent, pick_tips
from support import selectors as support_selectors

logger = logging.getLogger(__name__)


def _invite_link(request: HttpRequest, code: str) -> str:
    return request.build_absolute_uri(f"/r/{code}")


# The QR code depends only on the link: made once per process and link (≈ 4 ms with segno).
@lru_cache(maxsize=1024)
def _qr_svg(link: str, title: str) -> str:
    return qr_svg(link, title=title)


def _page_number(raw: str | None) -> str:
    """The page number as the paginator will read it, bounded so the cache key space stays small."""
    if not raw or not raw.isdigit():
        return "1"  # what Paginator.get_page does with anything that is not a number
    return str(min(int(raw), 1_000_000))  # beyond the last page: the last page, either way


def _sale_for_tips(region: Region, now: datetime) -> SaleEvent | None:
    event = sale_event_to_share(at=now, currency=region.currency, within=SALE_LOOKAHEAD)
    return SaleEvent(name=event.name, starts_at=event.starts_at, ends_at=event.ends_at) if event else None


def _invite_content(
    request: HttpRequest,
    *,
    user: User,
    code: ReferralCode,
    tab: str,
    page_number: str,
    now: datetime,
    pending_phone: PhoneVerification | None,
) -> str:
    """The page's main content (everything in the content block), rendered by the Jinja2 engine
    (`referrals/jinja2/referrals/_invite_content.html`, referral_portal/jinja2.py)."""
    link = _invite_link(request, code.code)
    region = region_for_country(str(user.country))
    ready = readiness(member=user, region=region)
    welcome_total = region.welcome_coupons().total
    welcome_text = format_money(welcome_total, region.currency) if welcome_total else ""
    reward_text = format_money(region.reward_amount, region.currency)
    message = (
        _("Join me on the marketplace: sign up with my link and get %(total)s in welcome coupons.")
        % {"total": welcome_text}
        if welcome_text
        else _("Join me on the marketplace: sign up with my link and get welcome coupons.")
    )
    # One pass over the member's referrals: tab counts, the funnel's referral half, friends on the way.
    tallies = tallies_of_referrals.referral_tallies(member=user)
    counts = tallies.tabs
    page = cards.referral_page(member=user, tab=tab, page=page_number, region=region, count=counts[tab])
    # Support's part of each card (its open request) comes from support, joined here.
    open_requests = support_selectors.open_requests_by_referral(referral_ids=[r.pk for r in page.object_list])
    referral_cards = cards.referral_cards(page.object_list, now=now, open_requests=open_requests)
    # The exact counts in the key: a sign-up or a reward shows in the funnel at once (only opens may lag).
    version = "-".join(str(counts[key]) for key in cards.TABS)
    channels = funnel.cached_channel_funnel(member=user, code=code.code, version=version, referrals=tallies.channels)
    progress = meter.monthly_progress(member=user, now=now, region=region)
    earned = meter.referral_earnings(member=user)
    context = {
        "code": code,
        "link": link,
        "copy_link": channel_link(link, "copy"),
        "instagram_link": channel_link(link, "instagram"),
        "share_sheet_link": channel_link(link, "other"),
        "qr_svg": _qr_svg(channel_link(link, "qr"), _("QR code of your invitation link")),
        "share_links": share_links(link, message=message, subject=_("A welcome gift for you")),
        "share_message": message,
        "region": region,
        "ready": ready,
        "pending_phone": pending_phone,
        "phone_form": PhoneForm(default_region=str(user.country)),
        "code_form": PhoneCodeForm(),
        "reward_text": reward_text,
        "welcome_text": welcome_text,
        "progress": progress,
        "on_the_way": meter.on_the_way(member=user, progress=progress, region=region, friends=tallies.on_the_way),
        "milestone": milestones.milestone_progress(member=user, region=region, now=now),
        "earnings": earned,
        # One definition each (docs/program-rules.md section 9): what "Earned so far" sums is what
        # "Coupons earned" counts, the member's referral coupons that were not reversed.
        "coupons_earned": meter.coupons_earned(earned),
        "signups_total": counts["all"],
        "funnel": channels,
        "tips": pick_tips(channels, progress, welcome_total=welcome_text, sale=_sale_for_tips(region, now), now=now),
        "tabs": [(key, label, counts[key]) for key, (label, _states) in cards.TABS.items()],
        "tab": tab,
        "page": page,
        "cards": referral_cards,
        "credit_deadline_hours": hours(CREDIT_DEADLINE),
    }
    return render_to_string("referrals/_invite_content.html", context, request=request, using="jinja2")


@require_GET
@login_required
def invite(request: HttpRequest) -> HttpResponse:
    """Invite Friends: readiness, link and share, this month's meter, the friends, funnel, tips and rules.

    Readiness first (docs/program-rules.md section 9): a flagged or suspended member reads the security
    sentence and the way to an appeal, nothing else; a member whose link cannot earn yet (no verified phone,
    a country outside the program) reads what stands in the way, with the phone form right there, and no
    share buttons.

    Rendered on every request, from the data as it is now (no page cache, so nothing can be stale): a constant
    number of queries whatever the number of friends (tests/perf/test_constant_queries.py), the main content
    through Jinja2 (docs/performance.md, issue 20).
    """
    user = request.user
    if not user.may_use_program:
        return render(request, "referrals/invite_restricted.html", {"message": FLAGGED_MESSAGE})
    now = timezone.now()
    code = services.ensure_referral_code(member=user)
    pending_phone = pending_phone_code(member=user) if user.phone_verified_at is None else None
    tab = request.GET.get("tab", "all")
    if tab not in cards.TABS:
        tab = "all"
    html = _invite_content(
        request,
        user=user,
        code=code,
        tab=tab,
        page_number=_page_number(request.GET.get("page")),
        now=now,
        pending_phone=pending_phone,
    )
    return render(request, "referrals/invite.html", {"invite_content": mark_safe(html)})  # noqa: S308 - our own render


@require_http_methods(["GET", "POST"])
@program_member_required
def remind(request: HttpRequest, referral_id: int) -> HttpResponse:
    """ "Remind" a friend who signed up and has not ordered: a pre-written message the member sends through their
    own channels (we send nothing to the friend). GET shows what will be sent; POST counts one reminder
    (REMINDERS_PER_FRIEND per REMINDER_WINDOW) and opens the share links. The message says only what the
    friend already knows (their welcome coupons wait for a first order): nothing new about the friend."""
    referral = cards.remindable(member=request.user, referral_id=referral_id)
    if referral is None:
        raise Http404("No friend to remind")
    name = cards.mask_name(referral.friend.first_name, referral.friend.last_name)
    message = _(
        "Hi! Your welcome coupons on the marketplace are waiting for your first order. You find them in My "
        "Coupons: %(url)s"
    ) % {"url": request.build_absolute_uri(reverse("coupons:wallet"))}
    links = []
    if request.method == "POST":
        allowed = ratelimit.allow(
            key=f"remind:{request.user.pk}:{referral.pk}",
            limit=REMINDERS_PER_FRIEND,
            window_seconds=int(REMINDER_WINDOW.total_seconds()),
            when_unavailable=True,
        )
        if not allowed:
            messages.info(
                request,
                _("You already reminded %(name)s today. Give them a little time; you can remind them again tomorrow.")
                % {"name": name},
            )
            return redirect(reverse("referrals:invite") + f"#referral-{referral.pk}")
        links = reminder_links(message=message, subject=_("Your welcome coupons are waiting"))
    context = {"friend_name": name, "message": message, "links": links, "referral_id": referral.pk}
    return render(request, "referrals/remind.html", context)


@require_GET
@program_member_required
def invite_qr(request: HttpRequest) -> HttpResponse:
    """The QR code of the member's link (?ch=qr) as an SVG file to download and print."""
    code = services.ensure_referral_code(member=request.user)
    svg = qr_svg_document(channel_link(_invite_link(request, code.code), "qr"))
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Disposition"] = f'attachment; filename="invite-{code.code.lower()}-qr.svg"'
    return response


@require_GET
@program_member_required
def my_invitation(request: HttpRequest) -> HttpResponse:
    """The friend's own page about the invitation they joined with: its frozen terms, where it stands, and the
    second chance of a medium-signal review (docs/program-rules.md sections 2 and 7)."""
    invitation = friend_invitation(friend=request.user)
    if invitation is None:
        return redirect("referrals:invite")
    context = {
        "invitation": invitation,
        "welcome": invitation.terms.welcome,
        "country_name": request.user.country.name,
    }
    return render(request, "referrals/my_invitation.html", context)


def rules(request: HttpRequest) -> HttpResponse:
    """The program's rules in plain words, with the amounts of the visitor's region."""
    region = region_for_country(str(request.user.country) if request.user.is_authenticated else "")
    welcome = region.welcome_coupons()
    return render(
        request,
        "referrals/rules.html",
        {
            "region": region,
            "welcome": welcome,
            "welcome_total": welcome.total,
            "credit_deadline_hours": hours(CREDIT_DEADLINE),
            "support_after_hours": hours(SUPPORT_AFTER),
        },
    )


# --- Invitation links: click, landing (docs/program-rules.md section 1) -------------------------


# The click's two redirect targets, reversed once per process (per script prefix and URLconf)
# instead of on every click (≈ 50 µs each).
@lru_cache(maxsize=16)
def _reversed(name: str, script_prefix: str, urlconf: str | None) -> str:
    return reverse(name, urlconf=urlconf)


def _url(name: str) -> str:
    return _reversed(name, get_script_prefix(), get_urlconf())


@require_safe
def click(request: HttpRequest, code: str) -> HttpResponse:
    """/r/<code>: record the click, set the attribution cookie, go to the landing page.

    Hot path: on PostgreSQL one call of the PL/pgSQL function `referrals_record_click` checks the
    code and writes device, IP sighting and click (`record_click_fast`); elsewhere the ORM path
    (`usable_code` + `record_click`).
    Unknown, disabled and flagged codes get the plain sign-up page with no cookie, so a
    visitor cannot tell them apart. Redirects only to internal pages (any `next` is ignored).
    """
    ip = client_ip(request)
    channel = attribution.normalize_channel(request.GET.get("ch"))
    ip_hash = keyed_hash(ip or "-", purpose="ip")
    allowed = attribution.click_allowed(ip_hash=ip_hash)
    click_id, clicked_at = None, timezone.now()
    if allowed and connection.vendor == "postgresql":
        found = attribution.record_click_fast(
            client=client_info(request), raw_code=code, channel=channel, ip_hash=ip_hash
        )
        if found is None:
            return HttpResponseRedirect(_url("accounts:signup"))
        code_value, click_id, clicked_at = found
    else:
        referral_code = usable_code(code)
        if referral_code is None:
            return HttpResponseRedirect(_url("accounts:signup"))
        code_value = referral_code.code
        if allowed:
            recorded = attribution.record_click(client=client_info(request), code=referral_code, channel=channel)
            click_id, clicked_at = recorded.pk, recorded.clicked_at
    response = HttpResponseRedirect(_url("referrals:landing"))
    set_attribution_cookie(response, code=code_value, click_id=click_id, clicked_at=clicked_at)
    return response


@require_safe
def landing(request: HttpRequest) -> HttpResponse:
    """The friend's landing page: who invited them, their welcome package, what we already know won't work."""
    if request.user.is_authenticated:
        # Members are bound for good: a link clicked after sign-up changes nothing.
        return redirect("referrals:invite")
    found = read_attribution(request)
    code = usable_code(found.code) if found else None
    if code is None:
        return redirect("accounts:signup")
    ip = client_ip(request)
    region = region_for_country(ip_country(ip) if ip else "")
    package = region.welcome_coupons()
    context = {
        "inviter_name": code.user.first_name,
        "region": region,
        "package": package,
        "package_total": package.total,
        "device_known": device_has_account(device_id=getattr(request, "device_id", "") or ""),
        "region_blocked": not region.is_in_program,
    }
    # The welcome package is shown in the region's currency: in its locale too when the language matches.
    with use_money_locale(region_money_locale_choice(region)):
        return render(request, "referrals/landing.html", context)
