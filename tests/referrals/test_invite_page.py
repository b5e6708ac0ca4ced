"""The Invite Friends page: sharing, QR, this month's meter, funnel, tips and referral cards."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Region
from referrals.models import MonthlyRewardCounter, ReferralCode
from referrals.selectors import cards, meter
from referrals.selectors.funnel import channel_funnel
from tests.factories import (
    CampaignFactory,
    ClickFactory,
    CouponFactory,
    OrderFactory,
    ReferralEventFactory,
    ReferralFactory,
    UserFactory,
)

# A member whose link can earn (verified phone): readiness has nothing to say (tests/referrals/test_readiness.py).
pytestmark = [pytest.mark.django_db, pytest.mark.member(phone_verified=True)]

URL = "/invite/"


def page(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode()


def plan_with_only(index: str, sql: str) -> str:
    """EXPLAIN with the referral table's other indexes dropped (in a savepoint, rolled back) and with table scans
    and sorts dearly costed: on a table of a few rows any index costs the planner about the same, so the question
    asked is whether this one answers the query in its order without reading or sorting the table."""
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT only_its_index")
        cursor.execute("UPDATE pg_class SET relallvisible = relpages WHERE oid = 'referrals_referral'::regclass")
        cursor.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'referrals_referral'::regclass "
            "AND NOT indisprimary AND indexrelid NOT IN (SELECT conindid FROM pg_constraint) "
            "AND indexrelid::regclass::text <> %s",
            [index],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort", "enable_incremental_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("ROLLBACK TO SAVEPOINT only_its_index")
        return plan


def test_url_name():
    assert reverse("referrals:invite") == URL


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]


def test_flagged_member_reads_the_security_sentence_and_the_way_to_support(client):
    user = UserFactory(status="flagged")
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "For security reasons, your request cannot be processed." in html
    assert reverse("support:appeal") in html
    assert "invite-link" not in html and "share-buttons" not in html
    assert not ReferralCode.objects.filter(user=user).exists()


def test_link_code_and_copy_buttons(client, member):
    html = page(client)
    code = ReferralCode.objects.get(user=member).code
    # The visible link is clean; the copy button copies the link with its channel (the funnel's "Copied link").
    assert f'id="invite-link" type="text" readonly value="http://testserver/r/{code}"' in html
    assert f'<span id="invite-link-copy" hidden>http://testserver/r/{code}?ch=copy</span>' in html
    assert f'value="{code}"' in html
    assert 'data-copy-target="invite-link-copy"' in html
    assert 'data-copy-target="invite-code"' in html


def _hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]


@pytest.mark.parametrize(
    ("prefix", "param", "channel"),
    [
        ("https://wa.me/", "text", "whatsapp"),
        ("https://t.me/share/url", "url", "telegram"),
        ("https://www.facebook.com/sharer/sharer.php", "u", "facebook"),
        ("https://x.com/intent/post", "text", "x"),
        ("mailto:", "body", "email"),
    ],
)
def test_share_buttons_use_each_networks_share_url_with_its_channel(client, member, prefix, param, channel):
    html = page(client)
    code = ReferralCode.objects.get(user=member).code
    (href,) = [h for h in _hrefs(html) if h.startswith(prefix)]
    query = parse_qs(urlparse(href).query) if not href.startswith("mailto:") else parse_qs(href.split("?", 1)[1])
    assert f"http://testserver/r/{code}?ch={channel}" in query[param][0]
    if channel == "email":
        assert query["subject"][0]


def test_instagram_is_a_copy_button_with_its_own_channel(client, member):
    html = page(client)
    code = ReferralCode.objects.get(user=member).code
    assert 'data-copy-target="instagram-link"' in html
    assert f'<span id="instagram-link" hidden>http://testserver/r/{code}?ch=instagram</span>' in html


def test_qr_code_is_inline_svg_without_any_style_attribute(client, member):
    html = page(client)
    assert '<figure class="qr' in html
    svg = re.search(r'<figure class="qr.*?(<svg.*?</svg>)', html, re.S).group(1)
    assert 'class="segno"' in svg
    assert "style=" not in html  # CSP: style-src has no 'unsafe-inline'


def test_qr_svg_download_encodes_the_qr_channel_link(client, member):
    response = client.get(reverse("referrals:invite_qr"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "attachment" in response["Content-Disposition"]
    body = response.content.decode()
    assert body.lstrip().startswith("<?xml") or body.lstrip().startswith("<svg")
    assert "style=" not in body
    # The encoded text is what segno renders for the ?ch=qr link.
    import segno

    code = ReferralCode.objects.get(user=member).code
    expected = segno.make(f"http://testserver/r/{code}?ch=qr", error="m")
    dark_modules = re.search(r' d="([^"]+)"', expected.svg_inline(scale=8)).group(1)
    assert f'd="{dark_modules}"' in body


# --- This month ----------------------------------------------------------------
@time_machine.travel(datetime(2026, 11, 15, 12, 0, tzinfo=UTC), tick=False)
def test_meter_shows_count_limit_and_reset_date(client, member):
    MonthlyRewardCounter.objects.create(referrer=member, month=date(2026, 11, 1), count=7)
    html = page(client)
    assert "7 of 10 coupons this month, resets 1 December" in html
    assert 'value="7"' in html
    assert "month-warning" not in html and "month-notice" not in html


@time_machine.travel(datetime(2026, 11, 15, 12, 0, tzinfo=UTC), tick=False)
def test_meter_warns_at_8(client, member):
    MonthlyRewardCounter.objects.create(referrer=member, month=date(2026, 11, 1), count=8)
    html = page(client)
    assert "month-warning" in html and "Only 2 coupons left this month" in html


@time_machine.travel(datetime(2026, 11, 15, 12, 0, tzinfo=UTC), tick=False)
def test_meter_notice_at_10(client, member):
    MonthlyRewardCounter.objects.create(referrer=member, month=date(2026, 11, 1), count=10)
    html = page(client)
    assert "month-notice" in html and "meter-full" in html
    assert "counted but not credited" in html


def test_meter_uses_the_program_time_zone_at_the_month_boundary(member):
    Region.objects.create(country="NZ", name="New Zealand", time_zone="Pacific/Auckland", monthly_limit=6)
    member.country = "NZ"
    member.save()
    MonthlyRewardCounter.objects.create(referrer=member, month=date(2026, 11, 1), count=5)
    MonthlyRewardCounter.objects.create(referrer=member, month=date(2026, 12, 1), count=1)
    # 30 November 10:59:59 UTC is 23:59:59 in Auckland (UTC+13): still November there.
    november = meter.monthly_progress(member=member, now=datetime(2026, 11, 30, 10, 59, 59, tzinfo=UTC))
    december = meter.monthly_progress(member=member, now=datetime(2026, 11, 30, 11, 0, 0, tzinfo=UTC))
    assert (november.count, november.limit, november.resets_on) == (5, 6, date(2026, 12, 1))
    assert (december.count, december.resets_on) == (1, date(2027, 1, 1))
    assert november.is_near and not november.is_full


@time_machine.travel(datetime(2026, 11, 15, 12, 0, tzinfo=UTC), tick=False)
def test_money_on_the_way_is_what_each_friends_frozen_terms_promise_within_the_slots_left(member):
    """The card's "Your terms" and "On the way" agree: a region change after sign-up changes neither (issue 18)."""
    now = timezone.now()
    early = ReferralFactory(referrer=member, state="qualified", completed_at=now, credit_due_at=now)
    ReferralFactory(referrer=member, state="order_placed", order_placed_at=now)
    ReferralFactory(referrer=member, state="order_placed", order_placed_at=now + timedelta(minutes=1))
    Region.objects.filter(country="US").update(reward_amount=Decimal("2.00"))  # later friends would get $2.00
    ReferralFactory(referrer=member, state="order_placed", order_placed_at=now + timedelta(minutes=2))
    MonthlyRewardCounter.objects.create(referrer=member, month=date(2026, 11, 1), count=7)
    region = Region.objects.get(country="US")
    progress = meter.monthly_progress(member=member, now=now)
    way = meter.on_the_way(member=member, progress=progress, region=region)
    # Four friends on the way, three slots left: the three first due, each at the $5.00 frozen at their sign-up.
    assert (way.friends, way.coupons, way.amount, way.currency) == (4, 3, Decimal("15.00"), "USD")
    early.terms = {}  # a row without a snapshot is worth the region's reward today
    early.save(update_fields=["terms"])
    way = meter.on_the_way(member=member, progress=progress, region=region)
    assert way.amount == Decimal("12.00")


@pytest.mark.postgres
@time_machine.travel(datetime(2026, 11, 15, 12, 0, tzinfo=UTC), tick=False)
def test_the_first_due_friends_on_the_way_are_read_from_an_index_head_without_a_sort(member):
    """A referrer with thousands of friends on the way: the meter reads its `remaining` first due from the head of
    `referral_on_the_way_idx`, in the meter's order, instead of reading and sorting them all."""
    now = timezone.now()
    ReferralFactory(referrer=member, state="qualified", completed_at=now, credit_due_at=now)
    ReferralFactory(referrer=member, state="order_placed", order_placed_at=now)
    progress = meter.monthly_progress(member=member, now=now)
    with CaptureQueriesContext(connection) as queries:
        meter.on_the_way(member=member, progress=progress, region=Region.objects.get(country="US"), friends=2)
    [sql] = [q["sql"] for q in queries.captured_queries if '"terms"' in q["sql"]]
    plan = plan_with_only("referral_on_the_way_idx", sql)
    assert "using referral_on_the_way_idx" in plan, plan
    assert "Sort" not in plan, plan


def test_earnings_sum_the_referral_coupons_but_not_voided_ones(client, member):
    CouponFactory(referral=ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="credited"))
    CouponFactory(
        referral=ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="credited"), value=Decimal("7.50")
    )
    CouponFactory(
        referral=ReferralFactory(
            whatsapp_3_days_ago=True, referrer=member, state="voided", reason_code="REWARD_REVERSED"
        ),
        status="voided",
    )
    assert meter.referral_earnings(member=member) == [("USD", Decimal("12.50"), 2)]
    assert "$12.50" in page(client)


# --- Funnel -------------------------------------------------------------------------
def test_funnel_per_channel_with_anonymous_clicks_without_signup(client, member):
    code = ReferralCode.objects.create(user=member, code="FUNNEL234")
    wa_clicks = ClickFactory.create_batch(4, referral_code=code, channel="whatsapp")
    ClickFactory.create_batch(3, referral_code=code, channel="facebook")
    ReferralFactory(
        whatsapp_3_days_ago=True, referrer=member, code=code, channel="whatsapp", click=wa_clicks[0], state="credited"
    )
    ReferralFactory(
        whatsapp_3_days_ago=True,
        referrer=member,
        code=code,
        channel="whatsapp",
        click=wa_clicks[1],
        state="order_placed",
        order_placed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member, code=code, channel="facebook", state="registered")

    funnel = channel_funnel(member=member)
    rows = {r.channel: r for r in funnel.rows}
    assert (
        rows["whatsapp"].clicks,
        rows["whatsapp"].signups,
        rows["whatsapp"].first_orders,
        rows["whatsapp"].coupons,
    ) == (4, 2, 1, 1)
    assert rows["whatsapp"].clicks_without_signup == 2
    # Each row adds up: opens = sign-ups + opens without a sign-up.
    assert (rows["facebook"].clicks, rows["facebook"].signups, rows["facebook"].clicks_without_signup) == (3, 1, 2)
    assert (funnel.total.clicks, funnel.total.signups, funnel.total.coupons) == (7, 3, 1)

    html = page(client)
    # Opens, no sign-up, sign-ups, orders, coupons: opens = no sign-up + sign-ups on every row.
    assert (
        '<tr data-channel="whatsapp"><th scope="row">WhatsApp</th><td class="num">4</td><td class="num">2</td>'
        '<td class="num">2</td><td class="num">1</td><td class="num">1</td></tr>' in html
    )
    assert "4 link opens did not lead to a sign-up" in html


def test_funnel_is_two_queries_whatever_the_data(member, django_assert_num_queries):
    code = ReferralCode.objects.create(user=member, code="FUNNEL235")
    ClickFactory.create_batch(5, referral_code=code, channel="telegram")
    ReferralFactory.create_batch(3, whatsapp_3_days_ago=True, referrer=member, code=code, channel="telegram")
    with django_assert_num_queries(2):
        channel_funnel(member=member)


# --- Tips -----------------------------------------------------------------------------
def tips_shown(html: str) -> list[tuple[str, str]]:
    """(key, title) of each tip on the page, in order."""
    return re.findall(r'<li class="tip tip-([\w-]+)"><h3 class="tip-title">([^<]*)</h3>', html)


def test_tips_for_a_new_member_start_with_personal_messages(client, member):
    assert tips_shown(page(client)) == [
        ("start", "Start with a personal message"),
        ("sales", "Share during big sale events"),
        ("new-people", "Invite people who have never shopped here"),
    ]


def sale_event(**fields):
    fields = {"kind": "platform", "code": None, "currency": "USD", **fields}
    return CampaignFactory(**fields)


@time_machine.travel(datetime(2026, 11, 11, 9, 0, tzinfo=UTC), tick=False)
def test_a_running_sale_event_leads_the_tips_even_for_a_busy_member(client, member):
    code = ReferralCode.objects.create(user=member, code="SALE23456")
    wa = ClickFactory.create_batch(2, referral_code=code, channel="whatsapp")
    ClickFactory.create_batch(8, referral_code=code, channel="facebook")
    for click in wa:
        ReferralFactory(whatsapp_3_days_ago=True, referrer=member, code=code, channel="whatsapp", click=click)
    busy = [
        ("personal", "Your personal messages work best"),
        ("follow-up", "Follow up on clicks"),
        ("welcome", "Tell friends about their welcome package"),
    ]
    assert tips_shown(page(client)) == busy  # no sale: the member's own numbers fill the three places
    # Events that do not apply: another region's currency, one that has ended, a promo code.
    sale_event(name="Euro Days", currency="EUR", starts_at=datetime(2026, 11, 10, tzinfo=UTC))
    sale_event(
        name="Halloween", starts_at=datetime(2026, 10, 30, tzinfo=UTC), ends_at=datetime(2026, 11, 1, tzinfo=UTC)
    )
    sale_event(name="Promo", code="SAVE5", kind="promo")
    cache.clear()
    assert tips_shown(page(client)) == busy
    sale_event(
        name="11.11 Global Shopping Festival",
        starts_at=datetime(2026, 11, 11, tzinfo=UTC),
        ends_at=datetime(2026, 11, 12, tzinfo=UTC),
    )
    cache.clear()  # the page content is kept for a minute; staff adding an event may lag that long
    html = page(client)
    assert tips_shown(html) == [("sales", "11.11 Global Shopping Festival is on: share now"), *busy[:2]]
    assert "11.11 Global Shopping Festival runs until 11 November." in html


@time_machine.travel(datetime(2026, 11, 5, 9, 0, tzinfo=UTC), tick=False)
def test_a_sale_event_starting_within_a_week_is_shared_for_now(client, member):
    sale_event(name="Black Friday", starts_at=datetime(2026, 11, 27, tzinfo=UTC))  # three weeks away: not yet
    sale_event(name="11.11", starts_at=datetime(2026, 11, 11, tzinfo=UTC), ends_at=datetime(2026, 11, 12, tzinfo=UTC))
    html = page(client)
    assert tips_shown(html) == [
        ("sales", "Share before 11.11"),
        ("start", "Start with a personal message"),
        ("new-people", "Invite people who have never shopped here"),
    ]
    assert "11.11 starts on 11 November." in html


def test_tips_follow_the_members_own_numbers(client, member):
    code = ReferralCode.objects.create(user=member, code="TIPS23456")
    wa = ClickFactory.create_batch(2, referral_code=code, channel="whatsapp")
    ClickFactory.create_batch(8, referral_code=code, channel="facebook")
    for click in wa:
        ReferralFactory(whatsapp_3_days_ago=True, referrer=member, code=code, channel="whatsapp", click=click)
    html = page(client)
    assert "Your personal messages work best" in html
    assert "100% of the people who opened a link you sent personally signed up, against 0% from social posts" in html
    assert "8 link opens did not become a sign-up yet (most via Facebook)" in html
    assert "2 friends signed up but did not order yet" in html
    assert "Start with a personal message" not in html


# --- Referral cards ------------------------------------------------------------------------
def test_friend_is_shown_masked_never_by_email_or_full_name(client, member):
    friend = UserFactory(first_name="Johnathan", last_name="Smithers", email="johnathan.smithers@example.org")
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member, friend=friend)
    html = page(client)
    assert "Jo**** S." in html
    assert "johnathan" not in html.lower()
    assert "smithers" not in html.lower()
    assert "example.org" not in html


@pytest.mark.parametrize(
    ("first", "last", "masked"),
    [
        ("John", "Smith", "Jo** S."),
        ("Al", "", "A*"),
        ("", "", "A friend"),
        ("Eve", "ng", "E** N."),
        ("", "Li", "*** L."),
    ],
)
def test_mask_name(first, last, masked):
    assert cards.mask_name(first, last) == masked


def test_each_state_shows_its_badge_reason_and_next_step(client, member):
    now = datetime.now(UTC)
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="registered")
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL")
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="voided", reason_code="FIRST_ORDER_REFUNDED")
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="credited", completed_at=now - timedelta(hours=2))
    html = page(client)
    for state in ("registered", "rejected", "voided", "credited"):
        assert f"badge state-{state}" in html
    assert "This sign-up used your own device, phone, card or e-mail address" in html
    assert "refunded before it was completed" in html
    assert "I think this is wrong" in html
    assert "coupon was issued" in html


def test_timeline_shows_the_events(client, member):
    r = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="order_placed")
    ReferralEventFactory(referral=r, to_state="registered", occurred_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    ReferralEventFactory(
        referral=r,
        from_state="registered",
        to_state="order_placed",
        occurred_at=datetime(2026, 3, 2, 10, 30, tzinfo=UTC),
    )
    html = page(client)
    assert '<time datetime="2026-03-01T09:00:00+00:00">1 Mar 2026, 09:00</time><p>Signed up</p>' in html
    assert "<p>First order placed</p>" in html


def test_flagged_friend_reason_never_named_in_the_timeline(client, member):
    r = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="ACCOUNT_FLAGGED")
    ReferralEventFactory(referral=r, to_state="rejected", reason_code="ACCOUNT_FLAGGED")
    html = page(client)
    assert "For security reasons, your request cannot be processed." in html
    assert "Account flagged" not in html


def test_capped_card_names_its_ordinal_and_its_month(client, member):
    base = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    # A credited one of last month does not count.
    ReferralFactory(
        whatsapp_3_days_ago=True,
        referrer=member,
        state="credited",
        completed_at=base - timedelta(days=10),
        decided_at=base - timedelta(days=10),
    )
    for i in range(10):
        t = base + timedelta(hours=i)
        ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="credited", completed_at=t, decided_at=t)
    t = base + timedelta(hours=11)
    capped = ReferralFactory(
        whatsapp_3_days_ago=True,
        referrer=member,
        state="capped",
        reason_code="MONTHLY_LIMIT",
        completed_at=t,
        decided_at=t,
    )
    t = base + timedelta(hours=12)
    ReferralFactory(
        whatsapp_3_days_ago=True,
        referrer=member,
        state="capped",
        reason_code="MONTHLY_LIMIT",
        completed_at=t,
        decided_at=t,
    )
    ordinals = {r.pk: r.month_ordinal for r in cards.referrals_for_page(member=member)}
    assert ordinals[capped.pk] == 11
    assert sorted(o for o in ordinals.values() if o) == [11, 12]
    html = page(client)
    assert "Counted, not credited: friend number 11 to qualify in November 2026." in html
    assert "Counted, not credited: friend number 12 to qualify in November 2026." in html
    assert "this month" not in html.split('id="referrals"')[1].split("</section>")[0]


@pytest.mark.postgres
def test_a_capped_cards_ordinal_reads_only_the_members_capped_referrals_of_that_month(member):
    """The month ordinal of each capped card on a page counts the member's capped referrals of that month: the
    range of `referral_capped_month_idx` they sit in, not every capped referral of the member or of the program."""
    t = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    for hours in (1, 2):
        ReferralFactory(
            whatsapp_3_days_ago=True,
            referrer=member,
            state="capped",
            reason_code="MONTHLY_LIMIT",
            completed_at=t + timedelta(hours=hours),
            decided_at=t + timedelta(hours=hours),
        )
    with CaptureQueriesContext(connection) as queries:
        assert [r.month_ordinal for r in cards.referrals_for_page(member=member)] == [12, 11]
    [sql] = [q["sql"] for q in queries.captured_queries if "month_ordinal" in q["sql"]]
    subplan = plan_with_only("referral_capped_month_idx", sql).split("SubPlan")[1]
    assert "Scan using referral_capped_month_idx" in subplan, subplan
    index_range = subplan.split("Index Cond: ")[1].split("\n")[0]
    assert "referrer_id = " in index_range, subplan
    assert "COALESCE(decided_at, completed_at) >= date_trunc('month'" in index_range, subplan


def test_a_capped_card_counts_after_the_limit_even_when_credited_rows_are_missing(client, member):
    """One definition: the n-th capped referral of a month is the (limit + n)-th, whatever other rows say, and a
    capped card of an earlier month names that month."""
    t = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    ReferralFactory(
        whatsapp_3_days_ago=True, referrer=member, state="capped", reason_code="MONTHLY_LIMIT", completed_at=t
    )
    html = page(client)
    assert "Counted, not credited: friend number 11 to qualify in October 2026." in html


def test_delayed_referral_apologises_and_after_48h_offers_support(client, member):
    now = datetime.now(UTC)
    ReferralFactory(
        whatsapp_3_days_ago=True, referrer=member, state="qualified", completed_at=now - timedelta(hours=30)
    )
    html = page(client)
    assert "Sorry" in html and "Ask support about this coupon" not in html
    ReferralFactory(
        whatsapp_3_days_ago=True, referrer=member, state="qualified", completed_at=now - timedelta(hours=50)
    )
    html = page(client)
    assert "Ask support about this coupon" in html


@pytest.mark.parametrize(
    ("tab", "states"),
    [
        (
            "all",
            {"registered", "order_placed", "qualified", "under_review", "credited", "capped", "voided", "rejected"},
        ),
        ("progress", {"registered", "order_placed", "qualified", "under_review"}),
        ("credited", {"credited"}),
        ("not_credited", {"capped", "voided", "rejected"}),
    ],
)
def test_filter_tabs(client, member, tab, states):
    reasons = {"capped": "MONTHLY_LIMIT", "voided": "FIRST_ORDER_CANCELED", "rejected": "DEVICE_LIMIT"}
    for state in (
        "registered",
        "order_placed",
        "qualified",
        "under_review",
        "credited",
        "capped",
        "voided",
        "rejected",
    ):
        ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state=state, reason_code=reasons.get(state, ""))
    html = page(client, tab=tab)
    shown = set(re.findall(r'class="badge state-(\w+)"', html))
    assert shown == states
    assert re.search(
        rf'href="\?tab={tab}#referrals" aria-current="page">[^<]+<span class="tab-count">{len(states)}</span>', html
    )


def test_unknown_tab_and_bad_page_do_not_fail(client, member):
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member)
    assert page(client, tab="nope", page="abc").count("referral-card") == 1
    assert page(client, page="9999").count("referral-card") == 1


def test_another_members_referrals_are_not_shown(client, member):
    ReferralFactory(whatsapp_3_days_ago=True, state="credited")
    html = page(client)
    assert "referral-card" not in html
    assert "No friends have signed up yet" in html


def test_pagination_12_per_page(client, member):
    ReferralFactory.create_batch(27, whatsapp_3_days_ago=True, referrer=member)
    assert page(client).count('class="card referral-card"') == cards.PER_PAGE == 12
    html = page(client, page=3)
    assert html.count('class="card referral-card"') == 3
    assert "Page 3 of 3" in html


def _bulk_referrals(referrer, n: int) -> None:
    """n referrals in mixed states, each with two timeline rows, inserted in bulk."""
    from accounts.identity import normalize_email
    from accounts.models import User
    from referrals.models import Referral, ReferralEvent

    code, _ = ReferralCode.objects.get_or_create(user=referrer, defaults={"code": f"B{referrer.pk:08d}"})
    friends = User.objects.bulk_create(
        [
            User(
                email=f"bulk{referrer.pk}-{i}@example.com",
                email_normalized=normalize_email(f"bulk{referrer.pk}-{i}@example.com"),
                first_name=f"Friend{i}",
                last_name="Bulk",
            )
            for i in range(n)
        ]
    )
    states = [
        ("registered", ""),
        ("credited", ""),
        ("capped", "MONTHLY_LIMIT"),
        ("rejected", "SELF_REFERRAL"),
        ("qualified", ""),
    ]
    now = datetime.now(UTC)
    referrals = Referral.objects.bulk_create(
        [
            Referral(
                referrer=referrer,
                friend=f,
                code=code,
                state=states[i % 5][0],
                reason_code=states[i % 5][1],
                registered_at=now - timedelta(minutes=i),
                completed_at=now - timedelta(minutes=i),
                decided_at=now - timedelta(minutes=i),
            )
            for i, f in enumerate(friends)
        ]
    )
    ReferralEvent.objects.bulk_create(
        [ReferralEvent(referral=r, to_state="registered") for r in referrals]
        + [
            ReferralEvent(referral=r, from_state="registered", to_state=r.state, reason_code=r.reason_code)
            for r in referrals
        ]
    )


def test_query_count_is_the_same_for_50_and_5000_referrals(client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small, large = UserFactory(), UserFactory()
    _bulk_referrals(small, 50)
    _bulk_referrals(large, 5000)
    counts = {}
    for user in (small, large):
        client.force_login(user)
        client.get(URL)  # warm: creates nothing new on the second request
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(URL, {"page": 2})
        assert response.status_code == 200
        assert response.content.decode().count('class="card referral-card"') == cards.PER_PAGE
        counts[user.pk] = len(ctx.captured_queries)
    assert counts[small.pk] == counts[large.pk]
    client.force_login(large)
    with django_assert_max_num_queries(counts[small.pk]):
        client.get(URL, {"tab": "not_credited"})


def test_welcome_tip_counts_only_friends_who_hold_their_welcome_coupons(client, member):
    code = ReferralCode.objects.create(user=member, code="TIPS34567")
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member, code=code, channel="whatsapp", state="registered")
    ReferralFactory(
        whatsapp_3_days_ago=True,
        referrer=member,
        code=code,
        channel="whatsapp",
        state="under_review",
        reason_code="IP_BURST",
    )
    ReferralFactory(
        whatsapp_3_days_ago=True,
        referrer=member,
        code=code,
        channel="email",
        state="rejected",
        reason_code="SELF_REFERRAL",
    )
    html = page(client)
    assert "1 friend signed up but did not order yet" in html


def test_a_referrer_side_device_limit_card_says_it_is_about_the_referrers_device(client, member):
    ReferralFactory(
        whatsapp_3_days_ago=True,
        referrer=member,
        state="rejected",
        reason_code="DEVICE_LIMIT",
        signals={"checks": {"referrer_device_limit": True}},
    )
    html = page(client)
    assert "One of the devices you use already has 4 other accounts taking part in the program" in html
    assert "Your friend&#x27;s device already has 4 accounts" not in html


def _card_fields(referral) -> tuple:
    """Everything a card reads off a referral row (its own fields, the related rows, the annotations, the
    timeline)."""
    coupon = getattr(referral, "reward_coupon", None)
    return (
        referral.pk,
        referral.state,
        referral.reason_code,
        referral.channel,
        referral.registered_at,
        referral.completed_at,
        referral.decided_at,
        referral.terms,
        referral.friend.first_name,
        referral.friend.last_name,
        referral.first_order.external_id if referral.first_order else None,
        (coupon.pk, coupon.value, coupon.currency, coupon.status, coupon.expires_at) if coupon else None,
        referral.month_ordinal,
        referral.referrer_device_limit,
        referral.second_chance_at,
        [(e.to_state, e.reason_code, e.occurred_at) for e in referral.timeline],
    )


@pytest.mark.parametrize("tab", list(cards.TABS))
def test_the_compiled_page_of_cards_is_the_orms_page(member, tab, django_assert_num_queries):
    """`referral_page` with a count runs the cards' query compiled once (lib.sqlonce): every page of every tab
    gives the rows, related rows, annotations and timelines the ORM's queryset gives, in the same order, in two
    queries a page (the rows with their related rows, the timelines)."""
    t = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    MonthlyRewardCounter.objects.create(referrer=member, month=date(2026, 11, 1), count=10)
    for n in range(14):
        state = ["registered", "order_placed", "credited", "capped", "voided", "under_review", "qualified"][n % 7]
        friend = UserFactory()
        referral = ReferralFactory(
            referrer=member,
            friend=friend,
            state=state,
            channel=["whatsapp", "email"][n % 2],
            registered_at=t - timedelta(days=n),
            completed_at=t if state in ("credited", "capped", "qualified") else None,
            decided_at=t if state == "capped" else None,
            reason_code={"capped": "MONTHLY_LIMIT", "voided": "SELF_REFERRAL", "under_review": "REFERRER_BURST"}.get(
                state, ""
            ),
            first_order=OrderFactory(buyer=friend) if n % 3 == 0 else None,
            signals={"checks": {"referrer_device_limit": True}} if n == 4 else {},
        )
        if state == "credited":
            CouponFactory(referral=referral)
        ReferralEventFactory(referral=referral, to_state=state)
    region = Region.objects.get(is_default=True)
    orm = list(cards.referrals_for_page(member=member, tab=tab, region=region))
    assert orm, tab
    per_page = 4
    compiled = []
    for number in range(1, (len(orm) + per_page - 1) // per_page + 1):
        with django_assert_num_queries(2):
            page = cards.referral_page(
                member=member, tab=tab, page=number, per_page=per_page, region=region, count=len(orm)
            )
            compiled += [_card_fields(r) for r in page.object_list]
    assert compiled == [_card_fields(r) for r in orm]
    assert any(r.month_ordinal for r in orm) or tab in ("progress", "credited")
