"""Replay on the referral's admin page: the recorded decisions next to today's rules on the same inputs (a diff;
no state changes, so nothing to audit)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from referrals.models import Referral
from referrals.program import RULES_VERSION
from referrals.replay import FIRST_ORDER, replay_referral


def _verdict(outcome: str, reason: str) -> str:
    return f"{outcome} ({reason})" if reason else outcome


def render_replay(referral: Referral) -> SafeString:
    replay = replay_referral(referral)
    if not replay.replayable:
        return format_html("<p>{}</p>", _("No recorded inputs to replay (this referral's decision kept none)."))
    rows = [
        (
            _("first order") if stage.stage == FIRST_ORDER else _("sign-up"),
            _verdict(stage.recorded_outcome, stage.recorded_reason),
            stage.recorded_version,
            _verdict(stage.replayed_outcome, stage.replayed_reason),
            ", ".join([*(f"+{code}" for code in stage.added), *(f"−{code}" for code in stage.removed)]) or "—",
            _("changes") if stage.changed else _("same"),
        )
        for stage in replay.stages
    ]
    summary = (
        _("Under today's rules (version %(version)s) this referral would be %(after)s instead of %(before)s.")
        if replay.changed
        else _("Today's rules (version %(version)s) decide it the same way: %(after)s.")
    ) % {"version": RULES_VERSION, "after": replay.replayed_outcome, "before": replay.recorded_outcome}
    head = format_html_join(
        "",
        "<th scope='col'>{}</th>",
        [
            (_("decision"),),
            (_("recorded"),),
            (_("rules version then"),),
            (_("today's rules"),),
            (_("signals added / removed"),),
            (_("result"),),
        ],
    )
    body = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><strong>{}</strong></td></tr>", rows
    )
    return format_html(
        '<p class="staff-replay-summary">{}</p><table class="staff-replay"><thead><tr>{}</tr></thead>'
        '<tbody>{}</tbody></table><p class="help">{}</p>',
        summary,
        head,
        body,
        _("A replay reads the inputs the decision recorded; it changes nothing. To act on it, use the actions."),
    )
