"""What the shop and order pages read (constant query counts)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Min, Prefetch, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from lib import sqlonce
from orders import rules
from orders.models import Order, OrderLine, OrderState, Product, Store, StoreFollow


def stores() -> QuerySet[Store]:
    return Store.objects.filter(products__is_active=True).distinct().order_by("name")


def store_by_slug(*, slug: str) -> Store | None:
    return Store.objects.filter(slug=slug).first()


def is_following(*, member: User, store: Store) -> bool:
    return StoreFollow.objects.filter(member=member, store=store).exists()


def followed_store_ids(*, member: User) -> set[int]:
    return set(StoreFollow.objects.filter(member=member).values_list("store_id", flat=True))


def has_bought_from(*, member: User, store: Store) -> bool:
    """Whether the member has an order with an item of `store` (orders canceled before payment do not count):
    a member who has not is a first-time buyer of that store."""
    return (
        OrderLine.objects.filter(order__buyer=member, store=store)
        .exclude(order__state=OrderState.CANCELED, order__paid_at__isnull=True)
        .exists()
    )


def catalog(*, store_slug: str = "") -> QuerySet[Product]:
    products = Product.objects.filter(is_active=True).select_related("store").order_by("store__name", "name")
    if store_slug:
        products = products.filter(store__slug=store_slug)
    return products


def orders_for(*, member: User) -> QuerySet[Order]:
    lines = OrderLine.objects.select_related("store").order_by("id")
    return (
        Order.objects.filter(buyer=member)
        .select_related("card")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("-placed_at", "-id")
    )


def order_for(*, member: User, external_id: str) -> Order | None:
    """The member's order, or None: another member's order is not theirs to see (the view answers 404)."""
    return orders_for(member=member).filter(external_id=external_id).first()


def available_actions(order: Order) -> set[str]:
    """Which transitions a person may make on the order now (same rule the services enforce)."""
    facts, now = rules.Facts.of(order), timezone.now()
    actions = {
        event
        for event in rules.EVENTS
        if rules.decide_transition(facts=facts, event=event, occurred_at=max(now, order.placed_at), strict=True).outcome
        == rules.APPLY
    }
    if order.has_pending_refund_request:
        actions.discard("refunded")  # one request at a time: it waits for staff
    return actions


def completed_spend(
    *, member: User, completed_after: datetime, completed_until: datetime
) -> tuple[Decimal, datetime | None]:
    """Total of the buyer's completed, not refunded orders completed in (after, until], and the oldest completion."""
    found = sqlonce.rows(_completed_spend, member.pk, completed_after, completed_until)
    total, oldest = found[0] if found else (None, None)
    return total or Decimal("0"), oldest


def _completed_spend(member_id: int, completed_after: datetime, completed_until: datetime):
    # Grouped by the one buyer: no row when nothing counts (compiled once per connection: every completion runs it).
    return (
        Order.objects.filter(
            buyer_id=member_id,
            state=OrderState.COMPLETED,
            completed_at__gt=completed_after,
            completed_at__lte=completed_until,
        )
        .values("buyer_id")
        .annotate(spend=Sum("total"), oldest=Min("completed_at"))
        .values_list("spend", "oldest")
    )


def history(order: Order) -> list[dict]:
    """The order's transitions in the order they happened."""
    labels = {
        "placed": (_("Placed"), "info"),
        "paid": (_("Paid"), "info"),
        "shipped": (_("Shipped"), "info"),
        "completed": (_("Completed: receipt confirmed"), "success"),
        "canceled": (_("Canceled"), "danger"),
        "refunded": (_("Refunded"), "warning"),
    }
    rows = [
        {"event": event, "label": label, "tone": tone, "at": getattr(order, f"{event}_at")}
        for event, (label, tone) in labels.items()
        if getattr(order, f"{event}_at") is not None
    ]
    if order.refund_requested_at is not None:
        rows.append(
            {
                "event": "refund_requested",
                "label": _("Refund requested"),
                "tone": "info",
                "at": order.refund_requested_at,
            }
        )
    return sorted(rows, key=lambda row: row["at"])


def _stored_label(label: str) -> str:
    return _(label) if label else ""


# Engine step kinds that spent something from the member's wallet.
WALLET_STEPS = {"store_coupon", "select_coupon", "platform_coupon", "promo_code", "coins"}


def order_breakdown(order: Order) -> dict:
    """The price breakdown kept in Order.pricing at checkout (no query): its discount steps, what was spent
    from the wallet (coupons, promo code, coins) and what happened to those after a cancel or refund."""
    pricing = order.pricing or {}
    steps = [
        {
            "kind": step.get("kind") or str(step.get("code", "")).lower(),
            # Labels are kept as written at checkout; the portal's own (English) ones read in today's language.
            "label": _("Sale savings") if step.get("kind") == "sale" else _stored_label(step.get("label", "")),
            "amount": Decimal(str(step.get("amount", "0"))),
            "remaining": Decimal(str(step["remaining"])) if step.get("remaining") is not None else None,
        }
        for step in pricing.get("steps", [])
        if step.get("kind", step.get("code")) not in (None, "list")
    ]
    spent = [step for step in steps if step["kind"] in WALLET_STEPS]
    if not spent:
        fate = ""
    elif order.state == "canceled" and order.paid_at is None:
        fate = _(
            "The order was canceled before payment: unexpired coupons, the coins and the promo code use "
            "went back to your wallet."
        )
    elif order.state in ("canceled", "refunded"):
        fate = _(
            "Coupons, coins and promo codes used on an order that was paid are not returned; "
            "only the cash paid is refunded."
        )
    else:
        fate = ""
    sale_savings = Decimal(str(pricing.get("sale_savings", "0")))
    return {
        "steps": steps,
        "spent": spent,
        "fate": fate,
        "coins_used": order.coins_used,
        "sale_savings": sale_savings,
        "sale_savings_percent": pricing.get("sale_savings_percent"),
        "other_savings": Decimal(str(pricing.get("discount_total", "0"))) if "list_total" in pricing else None,
    }
