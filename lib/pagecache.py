"""Rendered-content cache shared by member pages (Invite Friends, My Coupons): docs/performance.md.

A page keeps the HTML of its main content in the shared cache under a key made of the member, the request
parts the content depends on and a one-query "version" of the data it shows. The CSRF token is never
cached: the content is rendered with a placeholder that `with_csrf_token` replaces per request. A cache
error only means rendering (docs/program-rules.md G1).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable

from django.core.cache import cache
from django.http import HttpRequest
from django.middleware.csrf import get_token

logger = logging.getLogger(__name__)

# The cached content holds this instead of the CSRF token; every response gets its own token.
CSRF_PLACEHOLDER = "rp-invite-csrf-placeholder"
_CSRF_FIELD = 'name="csrfmiddlewaretoken" value="{}"'


def content_key(prefix: str, parts: Iterable[str]) -> str:
    """`prefix` followed by a short digest of `parts` (the version, tab, language, minute…)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{prefix}:{digest}"


def cached_content(*, key: str | None, ttl: int, render: Callable[[], str], name: str) -> str:
    """The content under `key`, else `render()` kept `ttl` seconds; no key or ttl ≤ 0 = just render.
    A cache failure is logged and the content rendered: it never fails the page."""
    if key is None or ttl <= 0:
        return render()
    html = None
    try:
        html = cache.get(key)
    except Exception:  # the cache only speeds the page up
        logger.warning("%s page cache unavailable; rendering", name, exc_info=True)
        return render()
    if html is None:
        html = render()
        try:
            cache.set(key, html, timeout=ttl)
        except Exception:  # same: a cache failure never fails the page
            logger.warning("%s page cache unavailable; not kept", name, exc_info=True)
    return html


def with_csrf_token(request: HttpRequest, html: str) -> str:
    """The content with this request's CSRF token in place of the placeholder."""
    return html.replace(_CSRF_FIELD.format(CSRF_PLACEHOLDER), _CSRF_FIELD.format(get_token(request)))
