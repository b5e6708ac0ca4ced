"""Replaying a referral's recorded decisions under today's rules, or a what-if's settings (docs/program-rules.md
section 6, "Explainability").

Every decision of `referrals.eligibility` stores its inputs (`signals["facts"]`, and under `signals["first_order"]`
for the first order) and the rules it applied (`signals["rules"]`: `RULES_VERSION` and the thresholds). Here the
stored inputs are turned back into the facts the rules read and decided again: a diff, never a state change.

Pure: reads `Referral.signals` only (no query), so the what-if sweep (`services.what_if`) can replay thousands.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache
from typing import Any

from referrals.eligibility import (
    ALLOWED,
    REJECTED,
    TODAY,
    UNDER_REVIEW,
    VOIDED,
    AccountFacts,
    Decision,
    FirstOrderFacts,
    RuleSettings,
    SignupFacts,
    decide,
    decide_first_order,
)
from referrals.models import Referral

SIGNUP, FIRST_ORDER = "signup", "first_order"
# How far a decision takes a referral from a reward, least first: the outcome of a referral is its worst stage.
_SEVERITY = {ALLOWED: 0, UNDER_REVIEW: 1, VOIDED: 2, REJECTED: 3}
UNRECORDED_VERSION = "before 2026-12-05"  # decisions made before the rules version was recorded


@dataclass(frozen=True)
class StageReplay:
    """One recorded decision (the sign-up's or the first order's) next to the same inputs decided again."""

    stage: str
    recorded_outcome: str
    recorded_reason: str
    recorded_version: str
    replayed_outcome: str
    replayed_reason: str
    # Signals that fire now and did not then, and the other way round.
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return (self.recorded_outcome, self.recorded_reason) != (self.replayed_outcome, self.replayed_reason)


@dataclass(frozen=True)
class Replay:
    stages: tuple[StageReplay, ...]

    @property
    def replayable(self) -> bool:
        return bool(self.stages)

    @property
    def recorded_outcome(self) -> str:
        return _worst(stage.recorded_outcome for stage in self.stages)

    @property
    def replayed_outcome(self) -> str:
        return _worst(stage.replayed_outcome for stage in self.stages)

    @property
    def changed(self) -> bool:
        return any(stage.changed for stage in self.stages)


def _worst(outcomes) -> str:
    return max(outcomes, key=lambda outcome: _SEVERITY.get(outcome, 0), default=ALLOWED)


@lru_cache(maxsize=8)
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def _only_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = _field_names(cls)
    return {key: value for key, value in data.items() if key in names}


def _account(data: dict[str, Any]) -> AccountFacts:
    values = _only_fields(AccountFacts, data)
    for name in ("device_hashes", "fingerprint_hashes", "card_fingerprints"):
        values[name] = frozenset(values.get(name) or ())
    return AccountFacts(**values)


def signup_facts_from_record(data: dict[str, Any]) -> SignupFacts:
    """The `SignupFacts` a sign-up decision stored (`eligibility._facts_for_staff`), read back."""
    values = _only_fields(SignupFacts, data)
    values["friend"] = _account(data["friend"])
    values["referrer"] = _account(data["referrer"]) if data.get("referrer") else None
    return SignupFacts(**values)


def first_order_facts_from_record(record: dict[str, Any]) -> FirstOrderFacts:
    """The `FirstOrderFacts` a first-order decision stored, read back. The referrer's other qualified friends are
    kept as their count in the busiest window: replayed as completing with this one, the count is the same."""
    facts, checks = record.get("facts") or {}, record.get("checks") or {}
    completed_at = datetime.fromisoformat(facts["completed_at"]) if facts.get("completed_at") else None
    burst = facts.get("referrer_burst") or {}
    nearby: tuple[tuple[int, datetime], ...] = ()
    if completed_at is not None:
        nearby = tuple((int(pk), completed_at) for pk in burst.get("other_referral_ids") or ())
    return FirstOrderFacts(
        order=facts.get("order", ""),
        card_fingerprint=facts.get("card_fingerprint", ""),
        card_used_by_referrer=bool(checks.get("card_used_by_referrer")),
        card_accounts_on_referrer_devices=tuple(facts.get("card_accounts_on_referrer_devices") or ()),
        card_accounts_before_friend=tuple(facts.get("card_accounts_before_friend") or ()),
        completed_at=completed_at,
        referrer_qualified_nearby=nearby,
    )


def _recorded(record: dict[str, Any]) -> tuple[str, str]:
    """(outcome, reason) a decision stored; older sign-up records kept only their signal lists."""
    if "outcome" in record:
        return record["outcome"], record.get("reason_code", "")
    if record.get("strong"):
        return REJECTED, record["strong"][0]
    if record.get("medium"):
        return UNDER_REVIEW, record["medium"][0]
    return ALLOWED, ""


def _stage(stage: str, record: dict[str, Any], decision: Decision) -> StageReplay:
    outcome, reason = _recorded(record)
    before = {*record.get("strong", ()), *record.get("medium", ())}
    after = {*decision.signals.get("strong", ()), *decision.signals.get("medium", ())}
    return StageReplay(
        stage=stage,
        recorded_outcome=outcome,
        recorded_reason=reason,
        recorded_version=(record.get("rules") or {}).get("version", UNRECORDED_VERSION),
        replayed_outcome=decision.outcome,
        replayed_reason=decision.reason_code,
        added=tuple(sorted(after - before)),
        removed=tuple(sorted(before - after)),
    )


def replay_signals(signals: dict[str, Any], rules: RuleSettings = TODAY) -> Replay:
    """Decide a referral's stored inputs again under `rules`; stages without stored inputs are left out."""
    stages = []
    # A record written by hand or by an older version may lack inputs: that stage is simply not replayable.
    try:
        if (signals.get("facts") or {}).get("friend"):
            decision = decide(signup_facts_from_record(signals["facts"]), rules, keep_facts=False)
            if decision is not None:
                stages.append(_stage(SIGNUP, signals, decision))
    except (KeyError, TypeError, ValueError):
        pass
    first_order = signals.get("first_order") or {}
    try:
        if first_order.get("facts"):
            decision = decide_first_order(first_order_facts_from_record(first_order), rules)
            stages.append(_stage(FIRST_ORDER, first_order, decision))
    except (KeyError, TypeError, ValueError):
        pass
    return Replay(stages=tuple(stages))


def replay_referral(referral: Referral, rules: RuleSettings = TODAY) -> Replay:
    """`replay_signals` of one referral: what today's rules (or `rules`) would decide on the inputs it recorded."""
    return replay_signals(referral.signals or {}, rules)
