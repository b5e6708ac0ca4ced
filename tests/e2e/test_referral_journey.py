"""The whole referral journey in a real browser (issue 8), as two people on two devices would live it.

A referrer logs in through the login form, copies the invitation link and shares it on WhatsApp; a
friend on another device opens it, signs up, sees the welcome coupons, shops, and confirms receipt of
the first order; the sweep (standing in for the worker, which does not run in tests) credits the
referrer, who then sees the credited friend on Invite Friends and the $5 coupon in My Coupons.

Both browsers reach the live server from 127.0.0.1: no IP country (so no REGION_MISMATCH) and a shared
IP, which is only the weak SHARED_IP signal. The same IP *and* the same user agent as the referrer is
the medium SHARED_IP_AND_AGENT signal: the second test shows that sign-up goes to review.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from coupons.models import Coupon
from orders.models import Order
from referrals.models import Referral
from referrals.services import credit_due_referrals
from tests.factories import ProductFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-for-tests-123"
REFERRER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
FRIEND_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def new_page(browser, live_server):
    """new_page(user_agent): a page in a NEW browser context (own cookies, so its own device id).

    Its screen differs from the referrer's, as another person's computer would: the soft browser
    fingerprint (screen, time zone, language, platform, cores) is a review signal from a shared IP,
    and every context here shares the loopback IP.
    """
    contexts = []

    def make(user_agent: str):
        context = browser.new_context(
            base_url=live_server.url, viewport=DESKTOP, screen={"width": 1680, "height": 1050}, user_agent=user_agent
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shoot(screenshot):
    """shoot(page, name, phone=False): a 1280-wide screenshot, and a 390-wide one that must not scroll sideways."""

    def take(page, name: str, *, phone: bool = False) -> None:
        screenshot(page, f"{name}-1280")
        if phone:
            page.set_viewport_size(PHONE)
            width = page.evaluate("document.documentElement.scrollWidth")
            screenshot(page, f"{name}-390")
            page.set_viewport_size(DESKTOP)
            assert width <= PHONE["width"], f"{name}: the page scrolls sideways at 390px ({width}px)"

    return take


@pytest.fixture
def broker_queue(tmp_path):
    """The filesystem broker in a folder of this test: what the journey enqueues is inspected here, and never
    lands in var/celery/queue, where `make run`'s worker would execute it against the development database."""
    from kombu import pools as kombu_pools

    from referral_portal.celery import app

    def reset_pools():
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None
        kombu_pools.reset()

    queue = tmp_path / "queue"
    queue.mkdir()
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url = "filesystem://"
    app.conf.broker_transport_options = {"data_folder_in": str(queue), "data_folder_out": str(queue)}
    reset_pools()
    yield queue
    app.conf.broker_url, app.conf.broker_transport_options = saved
    reset_pools()


def enqueued_tasks(queue) -> list[tuple[str, list]]:
    """(task name, args) of every message waiting in the filesystem broker's folder."""
    import base64
    import json

    tasks = []
    for path in sorted(queue.glob("*.msg")):
        message = json.loads(path.read_text())
        args = json.loads(base64.b64decode(message["body"]))[0]
        tasks.append((message["headers"]["task"], args))
    return tasks


@pytest.fixture
def referrer():
    return UserFactory(
        phone_verified=True, first_name="Rosa", last_name="Martinez", email="rosa@example.com", country="US"
    )


@pytest.fixture
def backpack():
    store = StoreFactory(name="Peak Outfitters", slug="peak-outfitters")
    return ProductFactory(store=store, name="Trail Backpack", price=Decimal("45.00"))


def log_in(page, *, email: str) -> None:
    """The real login form (it records the login sighting: this device, IP and user agent)."""
    page.goto("/accounts/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/invite/")


def nav(page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def whatsapp_link(page) -> str:
    """The link inside the WhatsApp share message (what the friend taps in the chat)."""
    href = page.locator("a.share-whatsapp").get_attribute("href")
    text = parse_qs(urlsplit(href).query)["text"][0]
    return text.rsplit(" ", 1)[-1]


def sign_up(page, *, first_name: str, email: str) -> None:
    page.get_by_label("First name").fill(first_name)
    page.get_by_label("Last name").fill("Okafor")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Country").select_option("US")
    page.get_by_label("Password").fill("a-long-friendly-passphrase-7")
    page.get_by_role("button", name="Create account").click()
    # A friend who joined through a link lands on the welcome coupons.
    page.wait_for_url("**/coupons/")


def test_referral_journey_from_copied_link_to_credited_coupon(
    browser, new_page, live_server, referrer, backpack, shoot, broker_queue, settings
):
    settings.SHOP_SIMULATION = True  # as `make run`: the friend walks the order with the demo shop's controls
    # 1. The referrer logs in, opens Invite Friends and copies the link.
    rosa = new_page(REFERRER_UA)
    rosa.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(rosa, email="rosa@example.com")
    with rosa.expect_navigation():
        nav(rosa, "Invite Friends").click()
    expect(rosa.locator("h1")).to_have_text("Share your link, earn coupons")
    assert "No friends have signed up yet" in rosa.locator("#referrals").inner_text()
    copy = rosa.get_by_role("button", name="Copy link", exact=True)
    copy.click()
    rosa.wait_for_function("document.querySelector('[data-copy-target=invite-link-copy]').textContent === 'Copied!'")
    copied = rosa.evaluate("navigator.clipboard.readText()")
    code = referrer.referral_code.code
    # The link box shows the clean link; what is copied carries its channel for the funnel.
    assert rosa.locator("#invite-link").input_value() == f"{live_server.url}/r/{code}"
    assert copied == f"{live_server.url}/r/{code}?ch=copy"
    shoot(rosa, "journey-01-referrer-invite", phone=True)
    shared = whatsapp_link(rosa)
    assert shared == f"{live_server.url}/r/{code}?ch=whatsapp"

    # 2. The friend, on another device (own cookies, another browser), opens the link from WhatsApp.
    sam = new_page(FRIEND_UA)
    sam.goto(shared)
    sam.wait_for_url("**/join/")
    assert sam.locator("h1").inner_text() == "Rosa invited you to join"
    assert "$24.00 in welcome coupons, 4 coupons for your first orders" in sam.locator(".page-header").inner_text()
    package = sam.locator("#package-title + .coupon-list .coupon-value").all_inner_texts()
    assert package == ["$4.00", "$5.00", "$7.00", "$8.00"]
    shoot(sam, "journey-02-friend-landing", phone=True)

    sam.locator(".page-header-actions").get_by_role("link", name="Join").click()
    sam.wait_for_url("**/accounts/signup/")
    assert "You're joining with Rosa's invitation." in sam.get_by_role("status").first.inner_text()
    shoot(sam, "journey-03-friend-signup", phone=True)
    sign_up(sam, first_name="Sam", email="sam.okafor@example.net")
    expect(sam.locator(".messages")).to_contain_text("Welcome, Sam! Your account is ready.")

    referral = Referral.objects.get(friend__email="sam.okafor@example.net")
    assert (referral.referrer_id, referral.state, referral.reason_code, referral.channel) == (
        referrer.pk,
        "registered",
        "",
        "whatsapp",
    )
    assert referral.signals["weak"] == ["SHARED_IP"] and referral.signals["medium"] == []

    nav(sam, "My Coupons").click()
    sam.wait_for_url("**/coupons/")
    coupons = sam.locator(".coupon-list .coupon")
    assert coupons.count() == 4
    values = [text.split("\n")[0] for text in sam.locator(".coupon-list .coupon-value").all_inner_texts()]
    assert sorted(values) == ["$4.00", "$5.00", "$7.00", "$8.00"]
    assert set(sam.locator(".coupon-list .coupon-title").all_inner_texts()) == {"Welcome coupon"}
    assert "Min. spend $69.00" in sam.locator(".coupon-list").inner_text()
    shoot(sam, "journey-04-friend-welcome-coupons", phone=True)

    # The referrer sees the friend signed up (masked name, channel, what happens next).
    rosa.reload()
    card = rosa.locator(".referral-card")
    assert card.count() == 1
    assert card.locator(".badge").inner_text() == "Signed up"
    assert "via WhatsApp" in card.inner_text()
    shoot(rosa, "journey-05-referrer-friend-registered")

    # 3. The friend shops: catalog → cart → checkout with a test card → My orders → demo shop → confirm receipt.
    nav(sam, "Shop").click()
    sam.wait_for_url("**/shop/")
    shoot(sam, "journey-06-friend-shop", phone=True)
    sam.get_by_role("article", name="Trail Backpack").get_by_role("button", name="Add to cart").click()
    expect(sam.locator(".messages")).to_contain_text("Added Trail Backpack to your cart (now 1).")
    sam.get_by_role("link", name="Cart").click()
    sam.get_by_role("link", name="Go to checkout").click()
    sam.wait_for_url("**/shop/checkout/")
    sam.get_by_label("Test card").fill("Visa 4242")
    shoot(sam, "journey-07-friend-checkout", phone=True)
    # The checkout pre-ticks the welcome coupon that saves most ($5 off $25 on a $45 item) and shows the breakdown.
    expect(sam.locator(".breakdown")).to_contain_text("$40.00")
    sam.get_by_role("button", name=re.compile(r"^Pay ")).click()
    order = Order.objects.get(buyer=referral.friend)
    sam.wait_for_url(f"**/orders/{order.external_id}/")
    expect(sam.locator(".messages")).to_contain_text(f"Order {order.external_id} placed.")
    assert order.total == Decimal("40.00")
    used = Coupon.objects.get(owner=referral.friend, status="used")
    assert (used.value, used.used_order_id) == (Decimal("5.00"), order.pk)

    nav(sam, "My orders").click()
    row = sam.locator(".order-list li", has_text=order.external_id)
    assert "First order" in row.inner_text() and "$40.00" in row.inner_text()
    row.get_by_role("link", name=order.external_id).click()
    sam.get_by_role("button", name="Mark paid (demo)").click()
    expect(sam.locator(".messages")).to_contain_text("the order is paid")
    sam.get_by_role("button", name="Mark shipped (demo)").click()
    expect(sam.locator(".messages")).to_contain_text("the order has shipped")
    sam.get_by_role("button", name="Confirm receipt").click()
    expect(sam.locator(".messages")).to_contain_text("Thanks for confirming: the order is completed.")
    assert sam.locator(".page-header .badge").first.inner_text() == "Completed"
    shoot(sam, "journey-08-friend-order-completed", phone=True)

    referral.refresh_from_db()
    assert referral.state == "qualified" and referral.credit_due_at is not None
    assert not Coupon.objects.filter(owner=referrer, source="referral").exists()

    # 4. Completion enqueued the credit task after commit; no worker runs in tests, so the sweep (beat) credits.
    assert enqueued_tasks(broker_queue) == [("referrals.tasks.credit_referral_task", [referral.pk])]
    assert credit_due_referrals() == {"credited": 1}
    assert credit_due_referrals() == {}  # idempotent: nothing is due twice
    reward = Coupon.objects.get(owner=referrer, source="referral")
    assert (reward.value, reward.min_spend, reward.referral_id) == (Decimal("5.00"), Decimal("20.00"), referral.pk)

    rosa.reload()
    card = rosa.locator(".referral-card")
    assert card.locator(".badge").inner_text() == "Credited"
    assert "first order completed" in card.inner_text()
    # The credited card names the coupon's value and expiry, and links to it in My Coupons.
    assert "Your $5.00 coupon" in card.inner_text() and "valid until" in card.inner_text()
    assert card.get_by_role("link", name="See it in My Coupons").get_attribute("href").endswith(f"#coupon-{reward.pk}")
    month = rosa.locator("section", has=rosa.get_by_role("heading", name="This month"))
    assert "$5.00" in month.locator(".stat-accent").inner_text()
    assert "1 of 10" in month.locator(".meter-label").inner_text()
    shoot(rosa, "journey-09-referrer-credited", phone=True)

    nav(rosa, "My Coupons").click()
    rosa.wait_for_url("**/coupons/")
    assert rosa.locator(".coupon-list .coupon-title").all_inner_texts() == ["Referral reward"]
    reward_card = rosa.locator(".coupon-list .coupon").first
    assert "$5.00" in reward_card.locator(".coupon-value").inner_text()
    assert "Min. spend $20.00 · effective discount 25%" in reward_card.inner_text()
    assert "Expires in 30 days" in reward_card.inner_text()
    assert "1 of 10" in rosa.locator(".meter").inner_text()
    shoot(rosa, "journey-10-referrer-my-coupons", phone=True)


def test_same_ip_and_user_agent_as_the_referrer_goes_to_review(new_page, live_server, referrer, shoot):
    """Same IP and same browser build as the referrer: a medium signal, so a human decides; the friend still joins."""
    rosa = new_page(REFERRER_UA)
    log_in(rosa, email="rosa@example.com")
    link = rosa.locator("#invite-link").input_value()

    twin = new_page(REFERRER_UA)  # another device (no shared cookie), same IP, same user agent
    twin.goto(link)
    twin.wait_for_url("**/join/")
    twin.locator(".page-header-actions").get_by_role("link", name="Join").click()
    sign_up(twin, first_name="Theo", email="theo.lind@example.org")

    referral = Referral.objects.get(friend__email="theo.lind@example.org")
    assert (referral.state, referral.reason_code) == ("under_review", "SHARED_IP_AND_AGENT")
    assert referral.review_requested_at is not None
    assert referral.signals["strong"] == []
    assert referral.signals["checks"]["same_device_as_referrer"] is False

    # A normal account: logged in, with the usual pages; the welcome coupons wait for the review.
    friend = referral.friend
    assert friend.status == "active"
    expect(twin.locator(".messages")).to_contain_text("Welcome, Theo! Your account is ready.")
    nav(twin, "My Coupons").click()
    twin.wait_for_url("**/coupons/")
    expect(twin.locator(".empty-state")).to_contain_text("No platform coupons right now")
    expect(twin.locator("main .alert-info")).to_contain_text("waiting for a quick check")
    assert twin.locator(".coupon-list .coupon").count() == 0
    assert not Coupon.objects.filter(owner=friend).exists()
    shoot(twin, "review-01-friend-my-coupons", phone=True)

    rosa.reload()
    card = rosa.locator(".referral-card")
    assert card.locator(".badge").inner_text() == "Under review"
    assert "Why:" in card.inner_text() and "What next:" in card.inner_text()
    shoot(rosa, "review-02-referrer-under-review")


MEMBER_PAGES = [
    # (path, the page's h1) — every page a member reaches from the header, the footer and their profile.
    ("/", None),
    ("/invite/", "Share your link, earn coupons"),
    ("/invite/rules/", None),
    ("/coupons/", "My Coupons"),
    ("/coupons/?tab=history", "My Coupons"),
    ("/shop/", "Shop"),
    ("/shop/cart/", None),
    ("/orders/", "My orders"),
    ("/accounts/profile/", None),
    ("/accounts/phone/", None),
    ("/accounts/rewards/", None),
    ("/support/", None),
    ("/accounts/notifications/", "Notifications"),
]


# Boxes whose content is wider than the box itself (text running over a coupon's stub, a stat, a card).
CLIPPED_BOXES = """() => [...document.querySelectorAll(
    'main .coupon-value, main .coupon-body, main .stat, main .card, main .btn, main .badge')]
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => el.className + ': ' + el.textContent.trim().slice(0, 40))"""

# True when the current page's link in the main nav is (partly) scrolled out of the nav's visible box.
CURRENT_NAV_LINK_HIDDEN = """() => {
  const nav = document.querySelector('.site-nav');
  const link = nav && nav.querySelector('[aria-current=page]');
  if (!link) return false;
  const n = nav.getBoundingClientRect(), l = link.getBoundingClientRect();
  return l.left < n.left - 1 || l.right > n.right + 1;
}"""


# Heading levels in document order that skip one (an h2 followed by an h4), and a first heading that is not h1.
HEADING_SKIPS = """() => {
  const levels = [...document.querySelectorAll('main h1, main h2, main h3, main h4, main h5, main h6')]
    .filter(h => h.offsetParent !== null || h.closest('details'))
    .map(h => Number(h.tagName[1]));
  const skips = levels.filter((level, i) => i > 0 && level > levels[i - 1] + 1);
  return levels.length && levels[0] !== 1 ? ['first heading h' + levels[0], ...skips] : skips;
}"""


def assert_accessible(page, axe_check, where: str) -> None:
    """axe-core over the whole page (the `axe_check` fixture: no serious or critical violation) and headings in
    order (none skipped, the first an h1)."""
    axe_check(page)
    assert page.evaluate(HEADING_SKIPS) == [], f"{where}: headings skip a level"


def check_page(page, screenshot, axe_check, *, path: str, heading: str | None, name: str) -> None:
    """Open `path` as a person would at 1280px and, freshly loaded, at 390px; screenshot both."""
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path} answered {response and response.status}"
    h1 = page.locator("main h1")
    assert h1.count() == 1 and h1.inner_text().strip(), f"{path} has no single main heading"
    if heading:
        assert h1.inner_text() == heading
    assert_accessible(page, axe_check, path)
    assert page.evaluate(CLIPPED_BOXES) == [], f"{path} at 1280px: content spills out of its box"
    screenshot(page, f"{name}-1280")
    # As on a phone: loaded at 390px (the nav row scrolls sideways; the current page's link is in view).
    page.set_viewport_size(PHONE)
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{path} scrolls sideways at 390px ({width}px)"
    assert page.evaluate(CLIPPED_BOXES) == [], f"{path} at 390px: content spills out of its box"
    assert page.evaluate(CURRENT_NAV_LINK_HIDDEN) is False, f"{path} at 390px: its nav link is out of view"
    assert_accessible(page, axe_check, f"{path} at 390px")
    screenshot(page, f"{name}-390")
    page.set_viewport_size(DESKTOP)


def collect_browser_errors(page) -> list[str]:
    """Console errors (a CSP violation is one) and uncaught exceptions, as they happen."""
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"{page.url}: {msg.text}"))
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    return problems


def test_member_pages_render_cleanly_at_desktop_and_phone_width(new_page, live_server, referrer, screenshot, axe_check):
    """Each member page as a person sees it: a heading, no browser (CSP) errors, nothing spilling out at 390px."""
    page = new_page(REFERRER_UA)
    problems = collect_browser_errors(page)
    log_in(page, email="rosa@example.com")
    for path, heading in MEMBER_PAGES:
        name = "member-" + (path.strip("/").replace("/?tab=", "-").replace("/", "-") or "home")
        check_page(page, screenshot, axe_check, path=path, heading=heading, name=name)
    assert problems == []


def test_visitor_pages_and_an_unknown_link(new_page, live_server, screenshot, axe_check):
    """Logged out: home, log in, sign up, the rules; an unknown invitation code lands on the normal sign-up page."""
    page = new_page(FRIEND_UA)
    problems = collect_browser_errors(page)
    check_page(page, screenshot, axe_check, path="/", heading=None, name="visitor-home")
    check_page(page, screenshot, axe_check, path="/accounts/login/", heading="Log in", name="visitor-login")
    check_page(
        page, screenshot, axe_check, path="/accounts/signup/", heading="Create your account", name="visitor-signup"
    )
    check_page(
        page, screenshot, axe_check, path="/invite/rules/", heading="How Invite Friends works", name="visitor-rules"
    )
    page.goto("/r/NOSUCHCODE?ch=whatsapp")
    assert page.locator("main h1").inner_text() == "Create your account"  # no error page, nothing to enumerate
    assert page.locator(".alert-info", has_text="invitation").count() == 0
    assert problems == []
