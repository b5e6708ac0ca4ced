"""Demo storefront (catalog, cart, checkout), My orders, and the signed order-events endpoint."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import program_member_required, program_refusal
from accounts.locales import member_money_locale
from coupons.pricing import CheckoutRefused, best_coupon_ids, price_cart
from coupons.promo_attempts import PROMO_ATTEMPTS_MESSAGE, promo_attempt_allowed
from coupons.services.store_offers import collect_store_offer
from coupons.store_offers import StoreOfferError, offers_for_store_page
from flows import orders as flows
from flows.order_events import receive_order_event
from lib.client import client_info, client_ip
from lib.metrics import count_order_event_answers
from lib.money import format_money
from orders import cart, ratelimit, selectors, webhooks
from orders.errors import EventRefused, InvalidTransition, OrderError
from orders.forms import CartLineForm, CartUpdateForm, CheckoutForm
from orders.services.cards import suggested_card_label
from orders.services.follows import follow_store, unfollow_store
from referrals.selectors.impact import first_order_impact

logger = logging.getLogger("orders.events")


def _form_errors(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


# --- Storefront -------------------------------------------------------------------


@require_GET
def catalog(request: HttpRequest) -> HttpResponse:
    store_slug = request.GET.get("store", "")
    stores = list(selectors.stores())
    if store_slug and store_slug not in {s.slug for s in stores}:
        store_slug = ""
    return render(
        request,
        "orders/catalog.html",
        {
            "products": selectors.catalog(store_slug=store_slug),
            "stores": stores,
            "store_slug": store_slug,
            "cart_count": cart.count(request.session),
        },
    )


@require_GET
def cart_view(request: HttpRequest) -> HttpResponse:
    lines = cart.lines(request.session)
    try:
        pricing = price_cart(lines=lines, member=request.user if request.user.is_authenticated else None)
    except OrderError as exc:  # e.g. items in two currencies
        messages.error(request, exc.message)
        pricing = price_cart(lines=[])
    return render(request, "orders/cart.html", {"lines": lines, "pricing": pricing})


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    form = CartLineForm(request.POST)
    if form.is_valid():
        product = form.cleaned_data["product"]
        quantity = cart.add(request.session, product=product, quantity=form.cleaned_data["quantity"])
        messages.success(request, f"Added {product.name} to your cart (now {quantity}).")
    else:
        messages.error(request, _form_errors(form))
    return redirect(_safe_next(request, default=reverse("orders:catalog")))


@require_POST
def cart_update(request: HttpRequest) -> HttpResponse:
    form = CartUpdateForm(request.POST)
    if form.is_valid():
        product, quantity = form.cleaned_data["product"], form.cleaned_data["quantity"]
        cart.set_quantity(request.session, product=product, quantity=quantity)
        if quantity:
            messages.success(request, f"{product.name}: quantity set to {quantity}.")
        else:
            messages.success(request, f"Removed {product.name} from your cart.")
    else:
        messages.error(request, _form_errors(form))
    return redirect("orders:cart")


@require_POST
def cart_remove(request: HttpRequest) -> HttpResponse:
    form = CartUpdateForm({"product": request.POST.get("product"), "quantity": 0})
    if form.is_valid():
        cart.set_quantity(request.session, product=form.cleaned_data["product"], quantity=0)
        messages.success(request, f"Removed {form.cleaned_data['product'].name} from your cart.")
    else:
        messages.error(request, _form_errors(form))
    return redirect("orders:cart")


def _safe_next(request: HttpRequest, *, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts=None) and target.startswith("/"):
        return target
    return default


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    """Coupons, promo code and coins re-price the order ("Update total"); "Pay" places it through one service call.

    GET suggests the coupons that save the most. The page always shows the breakdown
    the member will pay; the service prices again and refuses a total they did not see.

    Flagged (or suspended) members: coupons, promo codes and coins are program benefits, so picking
    any of them gets the security refusal of every program action (docs/program-rules.md section 6;
    `accounts.decorators.program_refusal`: same page and status, nothing claimed). Buying at the
    shop's price (sale prices and the stores' automatic discounts, which apply to everyone) is plain
    shopping, not a program action: it stays open to them, and nothing is suggested to them.
    """
    lines = cart.lines(request.session)
    if not lines:
        messages.info(request, "Your cart is empty: add something from the shop first.")
        return redirect("orders:catalog")
    now = timezone.now()
    if request.method == "GET":
        try:
            best = best_coupon_ids(lines=lines, member=request.user, at=now)
        except OrderError as exc:
            messages.error(request, exc.message)
            return redirect("orders:cart")
        form = CheckoutForm(initial={"coupons": list(best), "card_label": suggested_card_label(member=request.user)})
        picks = {"coupon_ids": list(best), "promo_code": "", "coins": 0}
    else:
        form = CheckoutForm(request.POST)
        if form.asks_for_benefits and (refusal := program_refusal(request)):
            return refusal
        valid = form.is_valid()
        picks = form.picks()
        if picks["promo_code"] and not promo_attempt_allowed(member_id=request.user.pk, ip=client_ip(request)):
            # Over the limit the code is not even looked up (coupons.promo_attempts).
            picks["promo_code"] = ""
            form.add_error("promo_code", PROMO_ATTEMPTS_MESSAGE)
            valid = False
        if valid and form.is_pay:
            try:
                order = flows.checkout(
                    member=request.user,
                    cart_lines=lines,
                    card_label=form.cleaned_data["card_label"],
                    client=client_info(request),
                    expected_total=form.cleaned_data["expected_total"],
                    **picks,
                )
            except CheckoutRefused as exc:
                # A pick at fault is shown on its field below (from the re-priced result).
                form.add_error(None, exc.message if exc.field is None else "Nothing was charged: fix the marked field.")
            except OrderError as exc:
                form.add_error(None, exc.message)
            else:
                cart.clear(request.session)
                messages.success(request, f"Order {order.external_id} placed. Thank you!")
                return redirect("orders:detail", external_id=order.external_id)
    try:
        pricing = price_cart(lines=lines, member=request.user, at=now, with_options=True, **picks)
    except OrderError as exc:
        messages.error(request, exc.message)
        return redirect("orders:cart")
    for problem in pricing.problems if form.is_bound else ():
        if problem.message not in form.errors.get(problem.field, []):
            form.add_error(problem.field, problem.message)
    # Summary next to the Pay button, linking to each field at fault.
    field_errors = [
        ("coupons-title" if name == "coupons" else form[name].auto_id, message)
        for name, errors in (form.errors.items() if form.is_bound else ())
        if (name in form.fields and not form[name].is_hidden) or name == "coupons"
        for message in errors
    ]
    return render(
        request,
        "orders/checkout.html",
        {
            "form": form,
            "lines": lines,
            "pricing": pricing,
            "picks": picks,
            "suggested": request.method == "GET" and bool(picks["coupon_ids"]),
            "field_errors": field_errors,
        },
    )


# --- My orders ----------------------------------------------------------------------


@login_required
@require_GET
def my_orders(request: HttpRequest) -> HttpResponse:
    orders = selectors.orders_for(member=request.user)
    return render(request, "orders/my_orders.html", {"orders": orders})


@login_required
@require_GET
def order_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    order = selectors.order_for(member=request.user, external_id=external_id)
    if order is None:
        raise Http404("No such order")
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "lines": list(order.lines.all()),
            "actions": selectors.available_actions(order),
            "shop_simulation": settings.SHOP_SIMULATION,
            "history": selectors.history(order),
            "breakdown": selectors.order_breakdown(order),
            # What a cancel or refund does to the invitation the buyer joined with (docs/program-rules.md 3).
            "invitation_impact": first_order_impact(order=order),
        },
    )


# URL action -> (transition, success message). What the buyer does on a real marketplace: cancel, confirm receipt of
# a shipped order, ask for a refund. The seller's side (payment captured, shipped) exists only as the shop
# simulation of `make run` (settings.SHOP_SIMULATION; off whenever DEBUG is off unless set explicitly).
ACTIONS = {
    "cancel": ("canceled", "Order canceled."),
    "confirm-receipt": ("completed", "Thanks for confirming: the order is completed."),
    "refund": ("refunded", ""),  # a request: flows.orders.request_refund decides (see order_action)
}
SHOP_SIMULATION_ACTIONS = {
    "mark-paid": ("paid", "Demo shop: payment captured, the order is paid."),
    "mark-shipped": ("shipped", "Demo shop: the order has shipped."),
}


def shop_actions() -> dict[str, tuple[str, str]]:
    """The order actions this deployment offers: the buyer's, plus the seller's when the shop is simulated."""
    return {**ACTIONS, **SHOP_SIMULATION_ACTIONS} if settings.SHOP_SIMULATION else ACTIONS


@login_required
@require_POST
def order_action(request: HttpRequest, external_id: str, action: str) -> HttpResponse:
    actions = shop_actions()
    if action not in actions:
        raise Http404("Unknown action")
    order = selectors.order_for(member=request.user, external_id=external_id)
    if order is None:
        raise Http404("No such order")
    event, success = actions[action]
    try:
        if action == "refund":
            order = flows.request_refund(order=order)
            success = (
                "Refund approved at once: fast refunds are a benefit of your member level."
                if order.refund_status == "auto_approved"
                else "Refund requested: our team reviews it, usually within one business day."
            )
        else:
            flows.TRANSITIONS[event](order=order)
    except InvalidTransition as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect("orders:detail", external_id=order.external_id)


# --- Signed order events (the only CSRF-exempt view) ------------------------------------

MAX_BODY_BYTES = 64 * 1024


@csrf_exempt
@count_order_event_answers
@require_POST
def order_events(request: HttpRequest) -> JsonResponse:
    """Thin adapter: rate limit → JSON only → signature over the raw body → parse → one service call."""
    limit = getattr(settings, "ORDER_EVENTS_RATE_LIMIT", 600)
    if not ratelimit.hit(key=f"order-events:{client_ip(request)}", limit=limit, window=60):
        return JsonResponse({"error": "rate_limited", "message": "Too many requests; retry shortly."}, status=429)
    if request.content_type != "application/json":
        return JsonResponse(
            {"error": "unsupported_media_type", "message": "Send the event as Content-Type: application/json."},
            status=415,
        )
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            raise webhooks.WebhookError(413, "body_too_large", f"The body may be at most {MAX_BODY_BYTES} bytes.")
        body = request.body
        webhooks.verify_signature(
            header=request.headers.get(webhooks.SIGNATURE_HEADER),
            body=body,
            secrets=settings.ORDER_EVENTS_SECRETS,
            tolerance=settings.ORDER_EVENTS_TOLERANCE_SECONDS,
        )
        event = webhooks.parse_event(body)
        webhooks.check_not_in_future(event, now=timezone.now(), tolerance=settings.ORDER_EVENTS_TOLERANCE_SECONDS)
        outcome = receive_order_event(event=event)
    except webhooks.WebhookError as exc:
        logger.info("order event refused: %s %s", exc.status, exc.code)
        return JsonResponse(exc.as_json(), status=exc.status)
    except EventRefused as exc:
        status = 409 if exc.conflict else 422
        logger.info("order event refused: %s %s", status, exc.code)
        return JsonResponse({"error": exc.code, "message": exc.message}, status=status)
    except ValueError:  # a non-numeric Content-Length
        return JsonResponse({"error": "malformed_request", "message": "Bad Content-Length."}, status=400)
    if outcome.is_duplicate:
        return JsonResponse({"status": "duplicate", "event_id": outcome.event_id})
    return JsonResponse({"status": "processed", "event_id": outcome.event_id, "result": outcome.result})


# --- Store pages: follow a store, "Get coupons" (docs/program-rules.md section 4, store coupons) ---------------


def _store_or_404(slug: str):
    store = selectors.store_by_slug(slug=slug)
    if store is None:
        raise Http404(gettext("No such store."))
    return store


@require_GET
def store_page(request: HttpRequest, slug: str) -> HttpResponse:
    store = _store_or_404(slug)
    member = request.user if request.user.is_authenticated else None
    return render(
        request,
        "orders/store.html",
        {
            "store": store,
            "products": selectors.catalog(store_slug=store.slug),
            "offers": offers_for_store_page(store=store, member=member, at=timezone.now()),
            "following": member is not None and selectors.is_following(member=member, store=store),
            "cart_count": cart.count(request.session),
        },
    )


@login_required
@require_POST
def store_follow(request: HttpRequest, slug: str) -> HttpResponse:
    store = _store_or_404(slug)
    if request.POST.get("follow") == "0":
        if unfollow_store(member=request.user, store=store):
            messages.success(request, gettext("You no longer follow %(store)s.") % {"store": store.name})
    elif follow_store(member=request.user, store=store):
        messages.success(request, gettext("You now follow %(store)s.") % {"store": store.name})
    return redirect("orders:store", slug=store.slug)


@program_member_required
@require_POST
def store_collect(request: HttpRequest, slug: str, offer_id: int) -> HttpResponse:
    store = _store_or_404(slug)
    try:
        coupon = collect_store_offer(member=request.user, offer_id=offer_id, store_id=store.pk)
    except StoreOfferError as error:
        messages.error(request, error.message)
    else:
        value = format_money(coupon.value, coupon.currency, member_money_locale(request.user))
        messages.success(
            request,
            gettext("Collected: %(value)s off at %(store)s, now in My Coupons.")
            % {"value": value, "store": store.name},
        )
    return redirect("orders:store", slug=store.slug)
