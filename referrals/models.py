"""Referral codes, link clicks, referrals with their timeline, and the monthly reward counter."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referrals.reasons import ON_THE_WAY_STATES, ReasonCode, ReferralState
from referrals.reports import ReconciliationReport, WhatIfRun  # noqa: F401 - the app's models, kept in their module


class Channel(models.TextChoices):
    WHATSAPP = "whatsapp", _("WhatsApp")
    TELEGRAM = "telegram", _("Telegram")
    FACEBOOK = "facebook", _("Facebook")
    INSTAGRAM = "instagram", _("Instagram")
    X = "x", _("X")
    EMAIL = "email", _("E-mail")
    COPY = "copy", _("Copied link")
    QR = "qr", _("QR code")
    OTHER = "other", _("Other")
    TYPED = "typed", _("Code typed at sign-up")


class ReferralCode(models.Model):
    """A member's one permanent invitation code (stored upper case; matched case-insensitively)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="referral_code")
    code = models.CharField(max_length=16, unique=True)
    is_active = models.BooleanField(default=True, help_text=_("Disabled codes land on normal sign-up."))
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.code


class Click(models.Model):
    """One visit of /r/<code>. Clicks never change reward state."""

    # No index of its own: click_code_time_chan_idx starts with this column and serves every lookup by code,
    # so each click (the hot path) maintains one index fewer (docs/performance.md).
    referral_code = models.ForeignKey(ReferralCode, on_delete=models.CASCADE, related_name="clicks", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.OTHER)
    clicked_at = models.DateTimeField(default=timezone.now)
    device = models.ForeignKey("accounts.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ip_hash = models.CharField(max_length=64, blank=True)
    ip_country = models.CharField(max_length=2, blank=True)

    class Meta:
        # The channel rides along (PostgreSQL INCLUDE): the funnel counts a member's clicks per channel from the
        # index alone (an index-only scan on a vacuumed table), with no second index for every click to maintain.
        # On PostgreSQL the table also has `click_time_brin_idx`, a BRIN index on clicked_at (the click_rollup
        # migration; not declared here: SQLite has no BRIN) through which the click roll-up finds a time range.
        indexes = [
            models.Index(fields=["referral_code", "clicked_at"], include=["channel"], name="click_code_time_chan_idx")
        ]

    def __str__(self) -> str:
        return f"{self.referral_code} via {self.channel}"


class ClickTally(models.Model):
    """Clicks of one code and channel counted so far (docs/performance.md, "Click growth").

    Every click dated before `ClickRollup.counted_before` is counted here exactly once, whether its raw row is
    still there or the retention job has deleted it (plus, from before the roll-up existed, the clicks the
    retention job counted when it deleted them, all of them older than any watermark it has since passed). The
    funnel adds the raw clicks from the watermark on, in one statement (`referrals.selectors.funnel`).
    """

    referral_code = models.ForeignKey(ReferralCode, on_delete=models.CASCADE, related_name="click_tallies")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.OTHER)
    clicks = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["referral_code", "channel"], name="click_tally_code_channel_unique")
        ]

    def __str__(self) -> str:
        return f"{self.referral_code} via {self.channel}: {self.clicks}"


# "Nothing rolled up yet": earlier than any click (the watermark's first value, and its value if the row is missing).
CLICKS_NOT_ROLLED_UP = datetime(1970, 1, 1, tzinfo=UTC)


class ClickRollup(models.Model):
    """The click roll-up's watermark, one row: `ClickTally` holds every click dated before `counted_before`.

    Moved forward only by `referrals.services.rollup.roll_up_clicks`, under this row's lock, in the transaction
    that adds the clicks it passes to the tally (docs/performance.md, "Click growth").
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    counted_before = models.DateTimeField(_("clicks counted before"), default=CLICKS_NOT_ROLLED_UP)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = _("click roll-up watermark")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="click_rollup_single_row")]

    def __str__(self) -> str:
        return f"clicks counted before {self.counted_before:%Y-%m-%d %H:%M:%S%z}"


class Referral(models.Model):
    """One friend's registration through a link, and everything that followed.

    Every deadline is stored: `credit_due_at` (reward owed from then),
    `delay_flagged_at` (TECHNICAL_DELAY noticed), so sweeps can find them.
    """

    referrer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referrals_made")
    # At most one referral per friend, forever.
    friend = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referral_received")
    code = models.ForeignKey(ReferralCode, on_delete=models.PROTECT, related_name="referrals")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.OTHER)
    click = models.ForeignKey(Click, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    state = models.CharField(max_length=14, choices=ReferralState.choices, default=ReferralState.REGISTERED)
    reason_code = models.CharField(max_length=30, choices=ReasonCode.choices, blank=True)
    # Every automatic decision keeps the signals it read, so staff can explain it.
    signals = models.JSONField(default=dict, blank=True)
    # The terms in force when the friend signed up (referrals.terms.snapshot_terms): what crediting, the cards
    # and the admin read, whatever the regions say later (docs/program-rules.md section 7).
    terms = models.JSONField(default=dict, blank=True)

    registered_at = models.DateTimeField(default=timezone.now)
    first_order = models.OneToOneField(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="referral"
    )
    order_placed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True, help_text=_("When the first order completed."))
    credit_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    delay_flagged_at = models.DateTimeField(null=True, blank=True)
    review_requested_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True, help_text=_("When a terminal state was reached."))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-registered_at"]
        indexes = [
            models.Index(fields=["referrer", "-registered_at"], name="referral_referrer_idx"),
            models.Index(fields=["state", "credit_due_at"], name="referral_state_due_idx"),
            # The credit sweep's claim (referrals.services.sweep): only qualified rows, in claim order, so a claim
            # never walks past referrals already credited or capped.
            models.Index(
                fields=["credit_due_at", "id"], name="referral_qualified_due_idx", condition=Q(state="qualified")
            ),
            # The referral changelist's order, the dashboard's last 14 days and the CSV export's range.
            models.Index(fields=["registered_at"], name="referral_registered_idx"),
            # The dashboard's outcomes since a date.
            models.Index(fields=["decided_at"], name="referral_decided_idx"),
            # The review queue: under review, oldest request first.
            models.Index(fields=["state", "review_requested_at", "registered_at"], name="referral_review_queue_idx"),
            # The review queue's reason filter: the distinct codes under review, one index probe each.
            models.Index(fields=["state", "reason_code"], name="referral_state_reason_idx"),
            # The dashboard's delayed credits: qualified, oldest completion first (a LIMIT stops early); with the
            # columns its qualified figures read, so they are counted from the index alone (index-only scan).
            models.Index(
                fields=["state", "completed_at"],
                include=["credit_due_at", "delay_flagged_at"],
                name="referral_qualified_cover_idx",
            ),
            # The dashboard's stale reviews: under review, by how long they have waited (the expression it orders by).
            models.Index(F("state"), Coalesce("review_requested_at", "registered_at"), name="referral_review_wait_idx"),
            # A capped card's "your 11th in November": the member's capped referrals of that month counted up to
            # this one, from the index alone (referrals.selectors.cards._month_ordinal; the same expression).
            models.Index(
                F("referrer"),
                Coalesce("decided_at", "completed_at"),
                F("id"),
                name="referral_capped_month_idx",
                condition=Q(state=ReferralState.CAPPED),
            ),
            # Invite Friends' money on the way: a member's referrals on the way in the meter's order (first due
            # first; ascending puts NULLs last, as the meter asks), so the first `remaining` are read from the
            # index's head instead of sorting every one of them (referrals.selectors.meter._on_the_way_terms).
            models.Index(
                fields=["referrer", "credit_due_at", "order_placed_at", "id"],
                name="referral_on_the_way_idx",
                condition=Q(state__in=ON_THE_WAY_STATES),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=models.F("friend")), name="referral_not_self"),
            models.CheckConstraint(
                condition=~Q(state__in=["rejected", "voided", "capped"]) | ~Q(reason_code=""),
                name="referral_terminal_has_reason",
            ),
        ]
        # Staff actions the model permissions cannot express (support/migrations/0002_staff_roles.py).
        permissions = [
            ("review_referral", "Can approve or reject a referral under review"),
            ("credit_referral_manually", "Can credit a referral by hand, even past the monthly limit"),
            ("rerun_eligibility", "Can re-run a referral's eligibility check"),
            ("export_referrals", "Can export referrals as CSV"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer} → {self.friend} ({self.state})"


class ReferralTally(models.Model):
    """Signed deltas of a referrer's referral counts (`selectors.funnel.REFERRAL_COUNTS`) per channel and state,
    written by database triggers on every change of a referral (migration *_referral_tally) and folded into one row
    per group by `services.tallies.compact_referral_tallies`; read as SUM()s (docs/performance.md, "Kept referral
    counts").
    No foreign key constraint: a referral's delete trigger writes negative deltas for a referrer being deleted."""

    referrer = models.ForeignKey(settings.AUTH_USER_MODEL, models.DO_NOTHING, db_constraint=False, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    state = models.CharField(max_length=14, choices=ReferralState.choices)
    n = models.IntegerField(_("referrals"))
    ordered = models.IntegerField(_("with a first order"))
    already = models.IntegerField(_("already registered"))
    # Written by a trigger, not compacted yet.
    is_delta = models.BooleanField(_("not compacted yet"), default=True)

    class Meta:
        verbose_name = _("kept referral count")
        verbose_name_plural = _("kept referral counts")
        indexes = [models.Index(fields=["referrer"], name="referral_tally_delta_idx", condition=Q(is_delta=True))]
        constraints = [
            models.UniqueConstraint(
                fields=["referrer", "channel", "state"], condition=Q(is_delta=False), name="referral_tally_compacted"
            )
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} {self.channel}/{self.state}: {self.n}"


class ReferralReview(Referral):
    """The fraud review queue: referrals under review, oldest first (admin only)."""

    class Meta:
        proxy = True
        verbose_name = _("referral under review")
        verbose_name_plural = _("referrals under review")


class ReferralEvent(models.Model):
    """The timeline: every state change, with when, who and why. Append-only."""

    class Actor(models.TextChoices):
        SYSTEM = "system", _("System")
        STAFF = "staff", _("Staff")
        MEMBER = "member", _("Member")
        SHOP = "shop", _("Shop")

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=14, choices=ReferralState.choices, blank=True)
    to_state = models.CharField(max_length=14, choices=ReferralState.choices)
    reason_code = models.CharField(max_length=30, choices=ReasonCode.choices, blank=True)
    actor_kind = models.CharField(max_length=10, choices=Actor.choices, default=Actor.SYSTEM)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, help_text=_("When it happened."))
    recorded_at = models.DateTimeField(default=timezone.now, help_text=_("When the portal learned of it."))

    class Meta:
        ordering = ["occurred_at", "id"]
        # Outbound events read new rows by when they were recorded (outbound.services.fan_out).
        indexes = [models.Index(fields=["recorded_at"], name="referral_event_recorded_idx")]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state}"


class MonthlyRewardCounter(models.Model):
    """Rewards credited to one referrer in one program month.

    Created with INSERT … ON CONFLICT DO NOTHING and raised with a conditional
    UPDATE (n < limit), in the same transaction as the coupon: the only way the
    cap holds under concurrency (docs/program-rules.md G2).
    """

    referrer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text=_("First day of the month in the program time zone."))
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["referrer", "month"], name="unique_counter_per_month"),
            models.CheckConstraint(condition=Q(count__gte=0), name="counter_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer} {self.month:%Y-%m}: {self.count}"


# --- Milestones (docs/program-rules.md section 3, milestones) ------------------------------------------------


class MilestoneTier(models.Model):
    """A bonus coupon for reaching `friends` credited friends in one calendar quarter (program time zone of
    the referrer's region). Off by default: no tier exists until a program manager adds and activates one."""

    region = models.ForeignKey("accounts.Region", on_delete=models.CASCADE, related_name="milestone_tiers")
    friends = models.PositiveSmallIntegerField(_("credited friends in a quarter"))
    value = models.DecimalField(_("bonus coupon value"), max_digits=10, decimal_places=2)
    min_spend = models.DecimalField(_("minimum spend"), max_digits=10, decimal_places=2, default=0)
    valid_days = models.PositiveSmallIntegerField(_("valid for (days)"), default=30)
    is_active = models.BooleanField(_("active"), default=False)

    class Meta:
        ordering = ["region__country", "friends"]
        verbose_name = _("milestone")
        verbose_name_plural = _("milestones")
        constraints = [
            models.UniqueConstraint(fields=["region", "friends"], name="one_milestone_per_region_count"),
            models.CheckConstraint(condition=Q(friends__gte=1), name="milestone_friends_positive"),
            models.CheckConstraint(condition=Q(value__gt=0), name="milestone_value_positive"),
            models.CheckConstraint(condition=Q(min_spend__gte=0), name="milestone_min_spend_non_negative"),
            models.CheckConstraint(condition=Q(valid_days__gte=1), name="milestone_valid_days_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.region.country}: {self.friends} friends → {self.region.currency} {self.value}"


class QuarterCreditCounter(models.Model):
    """Friends credited to one referrer in one program quarter: raised by an atomic UPDATE in the crediting
    transaction, so each credit knows its exact place in the quarter (the Nth reaches the milestone)."""

    referrer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    quarter = models.DateField(help_text="First day of the quarter in the program time zone.")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["referrer", "quarter"], name="unique_counter_per_quarter"),
            models.CheckConstraint(condition=Q(count__gte=0), name="quarter_counter_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer} {self.quarter:%Y-%m}: {self.count}"


class MilestoneAward(models.Model):
    """A milestone bonus issued once: the credit of `referral` was the one that reached it. Reversing that
    reward reverses this award (reversed_at); at most one standing award per referrer, tier and quarter."""

    referrer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="milestone_awards")
    tier = models.ForeignKey(MilestoneTier, on_delete=models.PROTECT, related_name="awards")
    quarter = models.DateField()
    friends = models.PositiveSmallIntegerField(help_text="The tier's count when it was reached.")
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="milestone_awards")
    coupon = models.OneToOneField("coupons.Coupon", on_delete=models.PROTECT, related_name="milestone_award")
    awarded_at = models.DateTimeField(default=timezone.now)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-awarded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["referrer", "tier", "quarter"],
                condition=Q(reversed_at__isnull=True),
                name="one_standing_milestone_award",
            )
        ]

    def __str__(self) -> str:
        return f"{self.referrer}: {self.friends} friends in {self.quarter:%Y-%m}"
