from __future__ import annotations

from django import forms

from orders.models import Product
from orders.services import MAX_QUANTITY, InvalidOrder, normalize_card_label


class CartLineForm(forms.Form):
    product = forms.ModelChoiceField(
        queryset=Product.objects.filter(is_active=True),
        error_messages={"invalid_choice": "This product is no longer available."},
    )
    quantity = forms.IntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        initial=1,
        error_messages={
            "min_value": "Quantity must be at least 1.",
            "max_value": f"You can order at most {MAX_QUANTITY} of one item.",
        },
    )


class CartUpdateForm(CartLineForm):
    # 0 removes the line.
    quantity = forms.IntegerField(
        min_value=0,
        max_value=MAX_QUANTITY,
        error_messages={
            "min_value": "Quantity can't be negative.",
            "max_value": f"You can order at most {MAX_QUANTITY} of one item.",
        },
    )


class CheckoutForm(forms.Form):
    card_label = forms.CharField(
        label="Test card",
        max_length=40,
        initial="Visa 4242",
        help_text="Demo payment: type a test card label such as “Visa 4242” or “Mastercard 5100”. "
        "We keep only a fingerprint of it, never a card number.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_card_label(self) -> str:
        try:
            return normalize_card_label(self.cleaned_data["card_label"])
        except InvalidOrder as exc:
            raise forms.ValidationError(exc.message) from None
