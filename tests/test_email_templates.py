"""Plain-text e-mails are plain text: every .txt body and .subject line renders quotes, apostrophes, ampersands and
angle brackets as themselves, never as HTML entities (`&#x27;`), because each template turns autoescape off."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.template.loader import render_to_string

TRICKY = """O'Neil & "Sons" <b>"""
ENTITIES = ("&#x27;", "&#39;", "&quot;", "&amp;", "&lt;", "&gt;")


def plain_text_email_templates() -> list[str]:
    roots = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]] + sorted(Path(settings.BASE_DIR).glob("*/templates"))
    found = set()
    for root in roots:
        for path in root.glob("**/emails/*"):
            if path.suffix in (".txt", ".subject"):
                found.add(str(path.relative_to(root)))
    return sorted(found)


def context() -> dict:
    user = SimpleNamespace(first_name=TRICKY, last_name=TRICKY, email="o'neil@example.com")
    notice = SimpleNamespace(title=TRICKY, body=TRICKY, link="/invite/?tab=all&page=2")
    return {
        "user": user,
        "notice": notice,
        "email": user.email,
        "link": "https://portal.example.com/confirm/?a=1&b=2",
        "days": 3,
        "site_url": "https://portal.example.com",
        "protocol": "https",
        "domain": "portal.example.com",
        "uid": "MQ",
        "token": "c2a-0a1b2c3d4e5f",
        "site_name": TRICKY,
    }


def test_the_plain_text_templates_are_found():
    names = plain_text_email_templates()
    assert "emails/notification.txt" in names and "emails/notification.subject" in names
    assert len(names) >= 6


@pytest.mark.parametrize("name", plain_text_email_templates())
def test_a_plain_text_email_has_no_html_entities(name):
    text = render_to_string(name, context())
    for entity in ENTITIES:
        assert entity not in text, f"{name} renders {entity}: {text!r}"


def test_the_notice_keeps_its_words_exactly():
    text = render_to_string("emails/notification.txt", context())
    assert TRICKY in text and "/invite/?tab=all&page=2" in text
    assert render_to_string("emails/notification.subject", context()).strip() == TRICKY
