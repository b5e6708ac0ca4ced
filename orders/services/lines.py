"""Order lines as plain values, and the quantity rule."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from orders.errors import InvalidOrder
from orders.models import Product, Store

CENT = Decimal("0.01")
MAX_QUANTITY = 20


@dataclass(frozen=True)
class LineInput:
    """One line to price or to order: a catalog product, or a line described by the shop."""

    store: Store
    name: str
    quantity: int
    unit_price: Decimal  # list price
    sale_price: Decimal | None = None
    product: Product | None = None

    @classmethod
    def for_product(cls, product: Product, quantity: int) -> LineInput:
        return cls(
            store=product.store,
            name=product.name,
            quantity=quantity,
            unit_price=Decimal(str(product.price)),
            sale_price=None if product.sale_price is None else Decimal(str(product.sale_price)),
            product=product,
        )

    @property
    def paid_unit_price(self) -> Decimal:
        return self.sale_price if self.sale_price is not None else self.unit_price

    @property
    def list_total(self) -> Decimal:
        return (self.unit_price * self.quantity).quantize(CENT)

    @property
    def total(self) -> Decimal:
        return (self.paid_unit_price * self.quantity).quantize(CENT)


def to_lines(lines: Iterable[LineInput | tuple[Product, int]]) -> list[LineInput]:
    """Lines given as `LineInput` or as (product, quantity) pairs, as `LineInput`s."""
    out = []
    for line in lines:
        if isinstance(line, LineInput):
            out.append(line)
        else:
            product, quantity = line
            out.append(LineInput.for_product(product, int(quantity)))
    return out


def check_lines(lines: Sequence[LineInput]) -> None:
    """An order has at least one line, each of 1 to MAX_QUANTITY items; raises InvalidOrder."""
    if not lines:
        raise InvalidOrder(_("An order needs at least one line."), code="EMPTY_ORDER")
    for line in lines:
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvalidOrder(
                _("Quantity must be between 1 and %(max)s.") % {"max": MAX_QUANTITY}, code="INVALID_QUANTITY"
            )


def cart_currency(lines: Sequence[LineInput], default: str | None) -> str:
    """The one currency of the lines' products (shop lines take `default`); raises InvalidOrder for a mix."""
    currencies = {line.product.currency for line in lines if line.product is not None}
    if len(currencies) > 1:
        raise InvalidOrder(_("Items priced in different currencies can't be in one order."), code="MIXED_CURRENCY")
    return currencies.pop() if currencies else (default or "USD")
