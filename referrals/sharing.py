"""Share links per channel and the QR code of a member's invitation link.

Every shared link carries its channel (`?ch=<channel>`) so the funnel can tell channels apart.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import segno

# CSP forbids inline styles: never let a style attribute into the page.
_STYLE_ATTR = re.compile(r"\sstyle=(\"[^\"]*\"|'[^']*')")


@dataclass(frozen=True)
class ShareLink:
    channel: str
    label: str
    href: str
    # The exact link the friend will open (shown / copied / handed to the share sheet).
    link: str


def channel_link(link: str, channel: str) -> str:
    return f"{link}?{urlencode({'ch': channel})}"


def share_links(link: str, *, message: str, subject: str) -> list[ShareLink]:
    """WhatsApp, Telegram, Facebook, X and e-mail links, each opening the network's own share page."""

    def q(value: str) -> str:
        return quote(value, safe="")

    out = []
    wa = channel_link(link, "whatsapp")
    out.append(ShareLink("whatsapp", "WhatsApp", f"https://wa.me/?text={q(f'{message} {wa}')}", wa))
    tg = channel_link(link, "telegram")
    out.append(ShareLink("telegram", "Telegram", f"https://t.me/share/url?url={q(tg)}&text={q(message)}", tg))
    fb = channel_link(link, "facebook")
    out.append(ShareLink("facebook", "Facebook", f"https://www.facebook.com/sharer/sharer.php?u={q(fb)}", fb))
    x = channel_link(link, "x")
    out.append(ShareLink("x", "X", f"https://x.com/intent/post?text={q(f'{message} {x}')}", x))
    em = channel_link(link, "email")
    body = message + "\n\n" + em
    out.append(ShareLink("email", "E-mail", f"mailto:?subject={q(subject)}&body={q(body)}", em))
    return out


def reminder_links(*, message: str, subject: str) -> list[ShareLink]:
    """A reminder the member sends through their own channels: WhatsApp, Telegram and e-mail with the message.

    No channel parameter: a reminder is no invitation and never counts in the funnel.
    """

    def q(value: str) -> str:
        return quote(value, safe="")

    return [
        ShareLink("whatsapp", "WhatsApp", f"https://wa.me/?text={q(message)}", ""),
        ShareLink("telegram", "Telegram", f"https://t.me/share/url?text={q(message)}", ""),
        ShareLink("email", "E-mail", f"mailto:?subject={q(subject)}&body={q(message)}", ""),
    ]


def qr_svg(data: str, *, title: str = "", scale: int = 4) -> str:
    """The QR code as an inline <svg> element (viewBox only, no size or style attributes)."""
    svg = segno.make(data, error="m").svg_inline(scale=scale, omitsize=True, title=title or None, dark="#1a1a1a")
    return _STYLE_ATTR.sub("", svg)


def qr_svg_document(data: str, *, scale: int = 8) -> str:
    """A standalone SVG file of the QR code (for printing), also without style attributes."""
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="svg", scale=scale, border=4, dark="#000", light="#fff")
    return _STYLE_ATTR.sub("", buffer.getvalue().decode())
