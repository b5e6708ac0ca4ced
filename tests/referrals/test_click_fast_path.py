"""The PostgreSQL click hot path (`referrals_record_click`, migration 0004) writes what the ORM path writes.

`record_click_fast` replaces `usable_code` + `record_click` on PostgreSQL; if the function and the
models drift apart (a new column, a changed rule) these tests fail.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.forms.models import model_to_dict
from django.test import RequestFactory

from accounts.identity import keyed_hash
from accounts.models import AccountStatus, Device, IPSighting
from lib.client import client_info
from referrals.models import Click
from referrals.selectors.links import usable_code
from referrals.services.attribution import record_click, record_click_fast
from tests.factories import ReferralCodeFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

WHEN = datetime(2026, 11, 24, 12, 30, 15, 123456, tzinfo=UTC)


def click_request(*, ip: str = "8.8.8.8", device_id: str = "device-1", user_agent: str = "Browser/1.0"):
    request = RequestFactory().get("/r/x", REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent)
    request.device_id = device_id
    return request


def written() -> dict:
    """Every row a click writes, without primary keys (and the click's device as its hash)."""
    [click] = Click.objects.select_related("device")
    [sighting] = IPSighting.objects.all()
    [device] = Device.objects.all()
    return {
        "click": {**model_to_dict(click, exclude=["id", "device"]), "device": click.device.id_hash},
        "sighting": model_to_dict(sighting, exclude=["id"]),
        "device": model_to_dict(device, exclude=["id"]),
    }


def forget_everything() -> None:
    Click.objects.all().delete()
    IPSighting.objects.all().delete()
    Device.objects.all().delete()


@pytest.mark.parametrize("ip", ["8.8.8.8", "2001:4860:4860::8888", ""])
def test_the_function_writes_exactly_what_the_orm_path_writes(ip):
    code = ReferralCodeFactory()
    request = click_request(ip=ip)
    ip_hash = keyed_hash(ip, purpose="ip") if ip else ""
    with time_machine.travel(WHEN, tick=False):
        orm_click = record_click(client=client_info(request), code=usable_code(code.code), channel="whatsapp")
        by_orm = written()
        forget_everything()
        found = record_click_fast(
            client=client_info(request), raw_code=code.code.lower(), channel="whatsapp", ip_hash=ip_hash
        )
        by_function = written()
    assert by_function == by_orm
    assert by_orm["click"]["clicked_at"] == WHEN
    assert found == (code.code, Click.objects.get().pk, WHEN)
    assert orm_click.clicked_at == WHEN


def test_a_second_click_from_the_same_browser_reuses_its_device_and_updates_last_seen():
    code = ReferralCodeFactory()
    request = click_request()
    with time_machine.travel(WHEN, tick=False):
        first = record_click_fast(client=client_info(request), raw_code=code.code, channel="email", ip_hash="h")
    with time_machine.travel(WHEN.replace(hour=13), tick=False):
        second = record_click_fast(client=client_info(request), raw_code=code.code, channel="sms", ip_hash="h")
    device = Device.objects.get()
    assert (device.first_seen_at, device.last_seen_at) == (WHEN, WHEN.replace(hour=13))
    assert list(Click.objects.order_by("pk").values_list("pk", "channel", "device_id")) == [
        (first[1], "email", device.pk),
        (second[1], "sms", device.pk),
    ]
    assert IPSighting.objects.filter(kind="click").count() == 2


@pytest.mark.parametrize("kind", ["unknown", "disabled", "flagged", "malformed"])
def test_unusable_codes_answer_none_and_write_nothing(kind):
    code = ReferralCodeFactory()
    raw = code.code
    if kind == "unknown":
        raw = "ZZZZZZZZZ" if code.code != "ZZZZZZZZZ" else "YYYYYYYYY"
    elif kind == "disabled":
        code.is_active = False
        code.save()
    elif kind == "flagged":
        code.user.status = AccountStatus.FLAGGED
        code.user.save()
    else:
        raw = "not a code!"
    assert usable_code(raw) is None  # the ORM path's answer
    assert record_click_fast(client=client_info(click_request()), raw_code=raw, channel="other", ip_hash="h") is None
    assert (Click.objects.count(), IPSighting.objects.count(), Device.objects.count()) == (0, 0, 0)
