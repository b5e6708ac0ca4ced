"""`make run`: the URL and the demo logins are printed again once web, worker and beat are up, and e-mails on the
console are one line each (who, subject, links) instead of raw MIME text."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.management import call_command

from accounts.management.commands import announce_ready
from accounts.management.commands.load_demo_data import DEMO_LOGINS, DEMO_PASSWORD
from referral_portal.mail import SummaryConsoleBackend

ROOT = Path(__file__).resolve().parent.parent


def procfile(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_make_run_uses_the_production_processes_plus_the_announcement():
    production, dev = procfile("Procfile"), procfile("Procfile.dev")
    assert set(dev) == set(production) | {"ready"}
    assert dev["web"] == production["web"]
    for name in ("worker", "beat"):
        # The same program and arguments, only quieter (no banner, warnings and up).
        command = re.sub(r"^CELERY_LOG_LEVEL=\S+ ", "", dev[name]).replace(" --quiet", "")
        assert command.split()[:4] == production[name].split()[:4]
        assert "--loglevel WARNING" in dev[name]
    assert "announce_ready" in dev["ready"]
    assert "Procfile.dev" in (ROOT / "Makefile").read_text()


def test_the_announcement_waits_for_web_worker_and_beat(monkeypatch, settings, tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    settings.CELERY_BEAT_SCHEDULE_FILENAME = str(schedule)
    state = {"web": False, "worker": False}
    polls = []

    def web(base_url):
        polls.append("web")
        return state["web"]

    def worker():
        polls.append("worker")
        state["web"] = state["worker"] = True  # both come up after the first round
        return False

    monkeypatch.setattr(announce_ready, "web_is_up", web)
    monkeypatch.setattr(announce_ready, "worker_is_up", lambda: worker() or state["worker"])
    monkeypatch.setattr(announce_ready.time, "sleep", lambda seconds: schedule.write_text("beat"))
    monkeypatch.setenv("WEB_PORT", "8765")
    out = io.StringIO()
    call_command("announce_ready", "--once", "--since", str(time.time()), stdout=out)
    text = out.getvalue()
    assert polls.count("web") == 2  # it waited a round for them
    assert "http://127.0.0.1:8765/   (web, worker and beat are up)" in text
    assert "http://127.0.0.1:8765/admin/" in text and DEMO_PASSWORD in text
    for _role, email in DEMO_LOGINS:
        assert email in text


def test_an_old_beat_schedule_does_not_count(settings, tmp_path):
    schedule = tmp_path / "celerybeat-schedule.db"
    schedule.write_text("from an earlier run")
    os.utime(schedule, (time.time() - 3600, time.time() - 3600))
    settings.CELERY_BEAT_SCHEDULE_FILENAME = str(tmp_path / "celerybeat-schedule")
    assert not announce_ready.beat_is_up(time.time() - 60)
    schedule.write_text("written by this beat")
    assert announce_ready.beat_is_up(time.time() - 60)


def test_the_announcement_says_what_is_still_missing(monkeypatch, settings, tmp_path):
    settings.CELERY_BEAT_SCHEDULE_FILENAME = str(tmp_path / "none")
    monkeypatch.setattr(announce_ready, "web_is_up", lambda base_url: True)
    monkeypatch.setattr(announce_ready, "worker_is_up", lambda: False)
    out = io.StringIO()
    call_command("announce_ready", "--once", "--timeout", "0", stdout=out)
    assert "(still waiting for: worker, beat)" in out.getvalue()


@pytest.mark.parametrize("html", [False, True])
def test_console_e_mails_are_one_line_with_their_links(html):
    stream = io.StringIO()
    message = EmailMultiAlternatives(
        subject="You earned a $5.00 coupon",
        body="Hello Rosa,\n\nOpen https://portal.example.com/coupons/ to see it.\n",
        to=["rosa@example.com"],
        connection=SummaryConsoleBackend(stream=stream),
    )
    if html:
        message.attach_alternative("<p>Hello <a href='https://portal.example.com/coupons/'>Rosa</a></p>", "text/html")
    assert message.send() == 1
    assert stream.getvalue() == (
        "e-mail to rosa@example.com: You earned a $5.00 coupon → https://portal.example.com/coupons/\n"
    )


def test_tests_still_capture_e_mails():
    mail.send_mail("Subject", "Body", "from@example.com", ["to@example.com"])
    assert len(mail.outbox) == 1
