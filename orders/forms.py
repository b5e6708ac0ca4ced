from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from lib.i18n import lazy_format
from orders.errors import InvalidOrder
from orders.models import Product
from orders.services.cards import normalize_card_label
from orders.services.lines import MAX_QUANTITY

_MAX_QUANTITY_MESSAGE = lazy_format(_("You can order at most %(max)s of one item."), {"max": MAX_QUANTITY})


class CartLineForm(forms.Form):
    product = forms.ModelChoiceField(
        queryset=Product.objects.filter(is_active=True),
        error_messages={"invalid_choice": _("This product is no longer available.")},
    )
    quantity = forms.IntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        initial=1,
        error_messages={
            "min_value": _("Quantity must be at least 1."),
            "max_value": _MAX_QUANTITY_MESSAGE,
        },
    )


class CartUpdateForm(CartLineForm):
    # 0 removes the line.
    quantity = forms.IntegerField(
        min_value=0,
        max_value=MAX_QUANTITY,
        error_messages={
            "min_value": _("Quantity can't be negative."),
            "max_value": _MAX_QUANTITY_MESSAGE,
        },
    )


MAX_PICKED_COUPONS = 50
MAX_COINS = 10_000_000


class CouponIdsField(forms.Field):
    """The coupon checkboxes: a list of coupon ids (whose they are is the pricing engine's question)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        if len(values) > MAX_PICKED_COUPONS:
            raise forms.ValidationError(_("Pick at most %(count)s coupons.") % {"count": MAX_PICKED_COUPONS})
        ids = []
        for raw in values:
            raw = str(raw).strip()
            if not raw.isdigit() or len(raw) > 12:
                raise forms.ValidationError(_("Pick coupons from the list."))
            ids.append(int(raw))
        return sorted(set(ids))


class CheckoutForm(forms.Form):
    """Checkout: coupons, promo code and coins re-price the order ("update"); "pay" also needs the card."""

    UPDATE, PAY = "update", "pay"

    action = forms.ChoiceField(choices=[(UPDATE, _("Update total")), (PAY, _("Pay"))], required=False)
    coupons = CouponIdsField(required=False, label="Coupons")
    promo_code = forms.CharField(
        label=_("Promo code"),
        max_length=32,
        required=False,
        help_text=_("A promo code replaces your platform coupon."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}),
    )
    coins = forms.IntegerField(
        label=_("Coins to spend"),
        min_value=0,
        initial=0,
        max_value=MAX_COINS,
        required=False,
        error_messages={
            "invalid": _("Coins must be a whole number, 0 or more."),
            "min_value": _("Coins must be a whole number, 0 or more."),
            "max_value": _("That is more coins than anyone has."),
        },
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 0, "step": 1}),
    )
    card_label = forms.CharField(
        label=_("Test card"),
        max_length=40,
        required=False,
        initial="Visa 4242",
        help_text=_(
            "Demo payment: type a test card label such as “Visa 4242” or “Mastercard 5100”. "
            "The same label on two accounts counts as the same card. "
            "We keep only a fingerprint of it, never a card number."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    # The total the member saw: never used to price, only to refuse paying a total they did not see.
    expected_total = forms.DecimalField(max_digits=12, decimal_places=2, required=False, widget=forms.HiddenInput)

    @property
    def is_pay(self) -> bool:
        return self.data.get("action") == self.PAY

    def clean_action(self) -> str:
        return self.cleaned_data.get("action") or self.UPDATE

    def clean_promo_code(self) -> str:
        return "".join(self.cleaned_data.get("promo_code", "").split()).upper()

    def clean_coins(self) -> int:
        return self.cleaned_data.get("coins") or 0

    def clean_card_label(self) -> str:
        label = self.cleaned_data.get("card_label", "")
        if not self.is_pay:
            return label  # only paying needs a card
        try:
            return normalize_card_label(label)
        except InvalidOrder as exc:
            raise forms.ValidationError(exc.message) from None

    @property
    def asks_for_benefits(self) -> bool:
        """The member ticked a coupon, typed a promo code or asked for coins (read from what was sent, valid or not:
        a malformed pick is still a pick)."""
        coupons = [value for value in self.data.getlist("coupons") if str(value).strip()]
        coins = str(self.data.get("coins") or "").strip()
        try:
            wants_coins = bool(coins) and int(coins) != 0
        except ValueError:
            wants_coins = True
        return bool(coupons) or bool(str(self.data.get("promo_code") or "").strip()) or wants_coins

    def picks(self) -> dict:
        """The member's picks that validated (a field with an error counts as empty)."""
        data = getattr(self, "cleaned_data", {})
        return {
            "coupon_ids": data.get("coupons") or [],
            "promo_code": data.get("promo_code") or "",
            "coins": data.get("coins") or 0,
        }
