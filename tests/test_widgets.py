"""lib/widgets.Select writes exactly what Django's template-rendered Select writes, without a template per option."""

from __future__ import annotations

import pytest
from django import forms

from lib import widgets

CHOICES = [
    ("", "---------"),
    ("DE", "Germany"),
    ("FR", 'France <& "quotes">'),
    ("Europe", [("Europe/Berlin", "Berlin"), ("Europe/Paris", "Paris")]),
    (7, "Seven"),
]


@pytest.mark.parametrize("value", ["", "DE", "Europe/Paris", 7, "7", None, "unknown"])
@pytest.mark.parametrize(
    "attrs", [None, {"id": "id_country", "required": True, "aria-invalid": "true", "disabled": False}]
)
def test_the_same_markup_as_django_select(value, attrs):
    django_html = forms.Select(choices=CHOICES, attrs={"class": "x"}).render("country", value, attrs=attrs)
    fast_html = widgets.Select(choices=CHOICES, attrs={"class": "x"}).render("country", value, attrs=attrs)
    assert fast_html == django_html


def test_a_form_field_keeps_its_select_class_and_label_escaping():
    class Form(forms.Form):
        place = forms.ChoiceField(choices=CHOICES, widget=widgets.Select)

    field = Form(initial={"place": "FR"})["place"]
    assert field.widget_type == "select"  # the page's CSS class `field-select`
    html = str(field)
    assert '<option value="FR" selected>France &lt;&amp; &quot;quotes&quot;&gt;</option>' in html
    assert html.count(" selected") == 1
