"""The outbound events documentation stays true: every event type and setting of the code is documented."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from outbound.models import EventType
from outbound.transport import SIGNATURE_HEADER

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_event_type_and_setting_is_documented():
    guide = (DOCS / "outbound-events.md").read_text()
    schema = (DOCS / "outbound-events.openapi.yaml").read_text()
    for event_type in EventType:
        assert f"`{event_type.value}`" in guide and f"- {event_type.value}\n" in schema
    assert SIGNATURE_HEADER in guide and SIGNATURE_HEADER in schema
    for name in ("TIMEOUT_SECONDS", "MAX_ATTEMPTS", "RETRY_BASE_SECONDS", "HTTP_HOSTS"):
        assert f"OUTBOUND_EVENTS_{name}" in guide and hasattr(settings, f"OUTBOUND_EVENTS_{name}")
