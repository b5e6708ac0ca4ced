"""What pages and rules read about members and regions."""

from __future__ import annotations

from accounts.models import Region


def region_for_country(country: str) -> Region:
    """The country's program settings, or the default region's for unlisted countries."""
    region = Region.objects.filter(country=(country or "").upper()).first()
    if region is None:
        region = Region.objects.get(is_default=True)
    return region
