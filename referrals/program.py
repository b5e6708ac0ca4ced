"""The program's clock and limits, defined once (docs/program-rules.md sections 3 and 6).

- CREDIT_DEADLINE: a completed first order's reward is issued within it; a referral still qualified after
  it is a fault (TECHNICAL_DELAY), shown on the staff dashboard and on the member's card.
- SUPPORT_AFTER: from then on the referrer may ask support about a missing reward.
- REVIEW_ALERT_AFTER: a review undecided this long is overdue on the staff screens.
- The program month: the calendar month of crediting in the region's program time zone. The monthly
  counter, the member's meter and the staff dashboard's month all use `program_month`, so they agree.
- CLICK_RETENTION_MARGIN: raw link clicks no referral points at are kept the CLICK_RETENTION_DAYS setting,
  never less than the attribution window plus this margin, then deleted (`referrals.services.retention`) once the
  click roll-up has counted them.
- CLICK_ROLLUP_LAG: how far behind the clock the click roll-up stays (`referrals.services.rollup`), so it never
  passes a click that is still on its way to the database.
- The eligibility limits (`referrals.eligibility` applies them; the members' words quote them) and the version
  of the rules a decision records (`RULES_VERSION`).

Pure: no database, no other app.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.utils.translation import ngettext_lazy

from lib.i18n import lazy_format

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

CREDIT_DEADLINE = timedelta(hours=24)
SUPPORT_AFTER = timedelta(hours=48)
REVIEW_ALERT_AFTER = timedelta(hours=24)
# The shortest raw-click retention the program allows: a click must outlive every attribution cookie that
# may still point at it (REFERRAL_ATTRIBUTION_DAYS) by a month, so a late sign-up still finds its click.
CLICK_RETENTION_MARGIN = timedelta(days=30)
# The click roll-up counts only clicks older than this (docs/performance.md, "Click growth"). A click's time is
# taken in Python before its row reaches the database (`record_click_fast`: `timezone.now()`, then one autocommit
# call of `referrals_record_click`), so a click dated before the roll-up's bound must have committed by the time
# the roll-up reads. What can sit between the two: connecting to PostgreSQL when the request's connection was
# closed (no `connect_timeout` is set: the kernel gives up on a dead host after ~2 min of SYN retries), the thread
# waiting for the GIL or the CPU, and the clock difference between web and worker hosts (NTP: milliseconds).
# Lock waits and slow statements are not covered by the lag but by the roll-up itself: on PostgreSQL it never
# passes the start of the oldest open transaction (minus this lag). The gunicorn timeout bounds none of this (a
# gthread worker's heartbeat comes from its main thread, not the request's). Ten minutes covers it several times;
# the only cost is that a member's last ten to fifteen minutes of clicks are counted raw on each visit.
CLICK_ROLLUP_LAG = timedelta(minutes=10)

DEVICE_ACCOUNT_LIMIT = 4  # accounts taking part in the program on one device
IP_SIGNUPS_PER_DAY_LIMIT = 3  # more than this many accounts from one IP within IP_BURST_WINDOW → review
IP_BURST_WINDOW = timedelta(days=1)
REFERRER_BURST_LIMIT = 3  # more than this many qualified friends of one referrer within the window → review
REFERRER_BURST_WINDOW = timedelta(hours=24)
# "Remind" on a friend who signed up and has not ordered (section 9): the member sends the reminder through
# their own channels, at most this many times per friend and window, so a friend is not nagged.
REMINDERS_PER_FRIEND = 1
REMINDER_WINDOW = timedelta(days=1)

# The version of the eligibility rules (`referrals.eligibility`) every decision records with its inputs, so a
# decision can be explained and replayed (docs/program-rules.md section 6). Raise it whenever a rule changes;
# its date is the program rules' change that made it (REGION_MISMATCH to review, 2026-12-05).
RULES_VERSION = "2026-12-05"


def hours(span: timedelta) -> int:
    """Whole hours of a span, as the members' and staff's texts print it ("24")."""
    return int(span.total_seconds() // 3600)


def hours_text(span: timedelta) -> StrOrPromise:
    """The span in words for members ("24 hours"), in the reader's language when it is read."""
    count = hours(span)
    return lazy_format(ngettext_lazy("%(count)s hour", "%(count)s hours", count), {"count": count})


def program_zone(time_zone: str) -> ZoneInfo:
    """The region's program time zone; a region without one runs on UTC."""
    return ZoneInfo(time_zone or "UTC")


def program_month(*, at: datetime, time_zone: str) -> date:
    """First day of the calendar month that `at` falls in, in the region's program time zone."""
    local = at.astimezone(program_zone(time_zone))
    return date(local.year, local.month, 1)


def next_program_month(month: date) -> date:
    """First day of the month after `month` (when this month's limit resets)."""
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def program_month_start(*, at: datetime, time_zone: str) -> datetime:
    """The moment the program month of `at` began: midnight on the 1st, in the program time zone."""
    return datetime.combine(program_month(at=at, time_zone=time_zone), time.min, tzinfo=program_zone(time_zone))


def program_quarter(*, at: datetime, time_zone: str) -> date:
    """First day of the calendar quarter that `at` falls in, in the region's program time zone (milestones)."""
    local = at.astimezone(program_zone(time_zone))
    return date(local.year, 3 * ((local.month - 1) // 3) + 1, 1)


def next_program_quarter(quarter: date) -> date:
    """First day of the quarter after `quarter` (when the milestone count starts again)."""
    month = quarter.month + 3
    return date(quarter.year + (month > 12), (month - 1) % 12 + 1, 1)
