"""The member's message to support, written once and confirmed before it is sent."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SupportMessageForm(forms.Form):
    message = forms.CharField(
        label=_("Your message"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("In your own words: what happened, and what you expected. Up to 2,000 characters."),
    )
    # Set by the confirmation step: the member has read what will be sent.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, required: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["message"].required = required
