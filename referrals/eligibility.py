"""Who counts as a new friend: a pure rules function (docs/program-rules.md sections 2 and 6).

`decide(facts)` takes plain dataclasses gathered by `referrals.selectors.facts.signup_facts`
and returns a `Decision`: outcome, the reason code of the rule that decided, and
every signal it read (stored on `Referral.signals` so staff can explain it).

Order of the rules (the first one that fires gives the reason; all that fired are listed):
1. strong (→ rejected): ACCOUNT_FLAGGED, REFERRER_INACTIVE, REGION_RESTRICTED,
   SELF_REFERRAL, ALREADY_REGISTERED, DEVICE_LIMIT;
2. medium (→ under_review): SHARED_IP_AND_AGENT, REGION_MISMATCH (travellers and VPNs are common: a
   review, never a rejection; it may close itself on a verified phone, `services.second_chance`),
   SHARED_FINGERPRINT (from an IP the referrer used, the friend's browser fingerprint was seen on another
   of the referrer's devices: a different device cookie, likely the same browser), COUNTRY_SIGNAL_MISMATCH,
   DISPOSABLE_EMAIL, IP_BURST;
3. weak (recorded only): SHARED_IP; SHARED_FINGERPRINT from another IP (the soft fingerprint —
   screen, time zone, language, platform, cores — is shared by many people with the same
   hardware, so on its own it only tells staff something).

Every decision records the rules it applied: `signals["rules"]` holds `RULES_VERSION` and the thresholds
(`RuleSettings`), beside the inputs (`signals["facts"]`), so `referrals.replay` can apply today's rules, or a
what-if's settings, to the same inputs.

`decide_first_order(facts)` is the same kind of function for the friend's first
order (sections 2, 3 and 6), over `FirstOrderFacts` gathered by
`referrals.selectors.facts.first_order_facts`:
1. strong (→ voided): SHARED_PAYMENT_METHOD (the card was used by the referrer or
   by another account on the referrer's devices), ALREADY_REGISTERED (another
   account used the card before the friend did: the friend is not a new member);
2. medium (→ under_review), at completion only: REFERRER_BURST (this would be the
   4th or later qualified friend of the referrer within 24 hours).

How "device seen on another account" and the device limit fit together: a
device already used by a member who is *not* taking part in the program, before
the friend arrived through the link, means the friend is that member again
(ALREADY_REGISTERED). Accounts on the device that *are* taking part (as
referrer or friend) are a shared device: allowed up to the limit (4), the
extra accounts are refused (DEVICE_LIMIT) — as friends (the friend's device
already has 4) and as referrers (a referrer not yet taking part whose device
already has 4 others taking part; `checks.referrer_device_limit`). A referrer
already taking part is one of the first accounts and keeps inviting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from disposable_email_domains import blocklist as disposable_blocklist

from accounts.identity import keyed_hash
from lib.masking import mask_email, mask_phone
from referrals.program import (
    DEVICE_ACCOUNT_LIMIT,
    IP_SIGNUPS_PER_DAY_LIMIT,
    REFERRER_BURST_LIMIT,
    REFERRER_BURST_WINDOW,
    RULES_VERSION,
)
from referrals.reasons import ReasonCode, ReferralState

ALLOWED = "allowed"
UNDER_REVIEW = "under_review"
REJECTED = "rejected"
VOIDED = "voided"  # a strong signal found at the first order


@dataclass(frozen=True)
class RuleSettings:
    """The thresholds the rules apply: today's by default; a what-if passes others (`referrals.replay`)."""

    device_account_limit: int = DEVICE_ACCOUNT_LIMIT
    ip_signups_per_day_limit: int = IP_SIGNUPS_PER_DAY_LIMIT
    referrer_burst_limit: int = REFERRER_BURST_LIMIT

    def record(self) -> dict:
        """What a decision stores about the rules it applied."""
        settings = {
            "device_account_limit": self.device_account_limit,
            "ip_signups_per_day_limit": self.ip_signups_per_day_limit,
            "referrer_burst_limit": self.referrer_burst_limit,
        }
        return {"version": RULES_VERSION, "settings": settings}


TODAY = RuleSettings()


@dataclass(frozen=True)
class AccountFacts:
    """What the rules need to know about one account."""

    user_id: int
    country: str
    status: str = "active"  # accounts.models.AccountStatus
    email_normalized: str = ""
    phone: str = ""
    phone_verified: bool = False
    region_in_program: bool = True
    device_hashes: frozenset[str] = frozenset()
    # Browser fingerprint hashes of the account's devices (never empty strings).
    fingerprint_hashes: frozenset[str] = frozenset()
    card_fingerprints: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SignupFacts:
    """The friend's sign-up and what the database knows around it; referrer None means no link."""

    friend: AccountFacts
    referrer: AccountFacts | None
    device_hash: str = ""
    # The browser fingerprint recorded for the friend's device at sign-up ("" when the browser sent none).
    fingerprint_hash: str = ""
    ip_hash: str = ""
    ip_country: str = ""
    user_agent: str = ""
    phone_country: str = ""
    # Other accounts (never the friend) sharing an identity signal with the friend.
    accounts_with_email: int = 0
    accounts_with_phone: int = 0
    accounts_with_card: int = 0
    # Accounts (not the friend) seen on the friend's device before the friend arrived
    # and not taking part in the program.
    device_non_program_accounts: int = 0
    # Accounts (not the friend) on the friend's device taking part in the program.
    device_program_accounts: int = 0
    # Whether the referrer already takes part in the program (a referral of theirs not rejected); if not,
    # the most accounts (not the referrer, not the friend) taking part on any one of the referrer's devices:
    # at the limit the referrer would be an extra account on that device (docs/program-rules.md section 6).
    referrer_takes_part: bool = True
    referrer_device_program_accounts: int = 0
    referrer_shares_ip: bool = False
    referrer_shares_ip_and_agent: bool = False
    # Accounts signed up from the friend's IP in the last 24 h, the friend included.
    ip_signups_last_day: int = 0


@dataclass(frozen=True)
class Decision:
    outcome: str  # "allowed" | "under_review" | "rejected"
    reason_code: str = ""
    signals: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def _disposable_domains() -> frozenset[str]:
    # The maintained list of the disposable-email-domains project (PyPI package of the same name).
    return frozenset(disposable_blocklist)


def is_disposable_email(email: str) -> bool:
    """True when the address's domain (or a parent domain) is a known disposable-mail provider."""
    domain = (email or "").rpartition("@")[2].strip().lower().rstrip(".")
    if not domain:
        return False
    parts = domain.split(".")
    blocklist = _disposable_domains()
    return any(".".join(parts[i:]) in blocklist for i in range(len(parts) - 1))


def decide(facts: SignupFacts, rules: RuleSettings = TODAY, *, keep_facts: bool = True) -> Decision | None:
    """Apply every rule of sections 2 and 6 to one sign-up; None when no link was used (no referral).

    `keep_facts=False` leaves the inputs out of the signals: a replay (`referrals.replay`) already has them.
    """
    referrer = facts.referrer
    if referrer is None:
        return None
    friend = facts.friend

    strong: list[str] = []
    if friend.status == "flagged" or referrer.status == "flagged":
        strong.append(ReasonCode.ACCOUNT_FLAGGED)
    # Reasons on the referrer's side only: a genuinely new friend keeps the welcome package (section 2).
    referrer_side: set[str] = set()
    if referrer.status == "suspended" or not referrer.phone_verified:
        strong.append(ReasonCode.REFERRER_INACTIVE)
        referrer_side.add(ReasonCode.REFERRER_INACTIVE)
    if not friend.region_in_program or not referrer.region_in_program:
        strong.append(ReasonCode.REGION_RESTRICTED)
        if friend.region_in_program:
            referrer_side.add(ReasonCode.REGION_RESTRICTED)

    same_device = bool(facts.device_hash and facts.device_hash in referrer.device_hashes)
    same_phone = bool(friend.phone and friend.phone == referrer.phone)
    same_card = bool(friend.card_fingerprints & referrer.card_fingerprints)
    same_email = bool(friend.email_normalized and friend.email_normalized == referrer.email_normalized)
    if same_device or same_phone or same_card or same_email:
        strong.append(ReasonCode.SELF_REFERRAL)

    seen_elsewhere = (
        facts.accounts_with_email,
        facts.accounts_with_phone,
        facts.accounts_with_card,
        facts.device_non_program_accounts,
    )
    if any(seen_elsewhere):
        strong.append(ReasonCode.ALREADY_REGISTERED)
    # "More than 4 accounts on one device: the extra accounts can't join the program" — as friend or as referrer.
    referrer_device_limit = (
        not facts.referrer_takes_part and facts.referrer_device_program_accounts >= rules.device_account_limit
    )
    if facts.device_program_accounts >= rules.device_account_limit or referrer_device_limit:
        strong.append(ReasonCode.DEVICE_LIMIT)

    medium: list[str] = []
    if facts.referrer_shares_ip_and_agent:
        medium.append(ReasonCode.SHARED_IP_AND_AGENT)
    if facts.ip_country and facts.ip_country.upper() != (friend.country or "").upper():
        medium.append(ReasonCode.REGION_MISMATCH)
    # Only another device of the referrer counts: the same device cookie is already SELF_REFERRAL.
    same_fingerprint = bool(
        not same_device and facts.fingerprint_hash and facts.fingerprint_hash in referrer.fingerprint_hashes
    )
    if same_fingerprint and facts.referrer_shares_ip:
        medium.append(ReasonCode.SHARED_FINGERPRINT)
    if facts.ip_country and facts.phone_country and facts.ip_country.upper() != facts.phone_country.upper():
        medium.append(ReasonCode.COUNTRY_SIGNAL_MISMATCH)
    disposable = is_disposable_email(friend.email_normalized)
    if disposable:
        medium.append(ReasonCode.DISPOSABLE_EMAIL)
    if facts.ip_signups_last_day > rules.ip_signups_per_day_limit:
        medium.append(ReasonCode.IP_BURST)

    weak: list[str] = []
    if facts.referrer_shares_ip:
        weak.append(ReasonCode.SHARED_IP)
    if same_fingerprint and not facts.referrer_shares_ip:
        weak.append(ReasonCode.SHARED_FINGERPRINT)

    signals = {
        "strong": [str(code) for code in strong],
        "medium": [str(code) for code in medium],
        "weak": [str(code) for code in weak],
        "checks": {
            "same_device_as_referrer": same_device,
            "same_phone_as_referrer": same_phone,
            "same_card_as_referrer": same_card,
            "same_email_as_referrer": same_email,
            "same_fingerprint_as_referrer": same_fingerprint,
            "referrer_device_limit": referrer_device_limit,
            "disposable_email": disposable,
            # Every friend-side rule holds (section 2): only the referrer's side, if anything, failed.
            "friend_side_clear": not medium and all(code in referrer_side for code in strong),
        },
        "facts": _facts_for_staff(facts) if keep_facts else {},
        "rules": rules.record(),
    }
    if strong:
        outcome, reason = REJECTED, str(strong[0])
    elif medium:
        outcome, reason = UNDER_REVIEW, str(medium[0])
    else:
        outcome, reason = ALLOWED, ""
    return Decision(outcome, reason, {"outcome": outcome, "reason_code": reason, **signals})


def welcome_package_due(*, state: str, signals: dict | None) -> bool:
    """Whether the friend of a referral in `state` receives the welcome package (docs/program-rules.md section 2).

    An allowed referral, or one rejected only on the referrer's side (REFERRER_INACTIVE, the referrer's
    country not in the program): the package depends on the friend alone. Never while a review is open.
    """
    if state == ReferralState.UNDER_REVIEW:
        return False
    if state != ReferralState.REJECTED:
        return True
    return bool(((signals or {}).get("checks") or {}).get("friend_side_clear"))


def contact_signals(*, email: str, phone: str) -> dict[str, str]:
    """What signals keep of an e-mail address and a phone: a keyed hash to match rows, a masked form to read."""
    return {
        "email_hash": keyed_hash(email, purpose="email")[:16] if email else "",
        "email_masked": mask_email(email) if email else "",
        "phone_hash": keyed_hash(phone, purpose="phone")[:16] if phone else "",
        "phone_masked": mask_phone(phone) if phone else "",
    }


def _facts_for_staff(facts: SignupFacts) -> dict:
    """The facts as JSON, without the raw identifiers' hashes in full (a prefix is enough to match rows)."""
    data = asdict(facts)
    for who in ("friend", "referrer"):
        account = data[who]
        if account is None:
            continue
        account.update(contact_signals(email=account.pop("email_normalized"), phone=account.pop("phone")))
        account["device_hashes"] = sorted(h[:12] for h in account["device_hashes"])
        account["fingerprint_hashes"] = sorted(h[:12] for h in account["fingerprint_hashes"])
        account["card_fingerprints"] = sorted(f[:12] for f in account["card_fingerprints"])
    data["device_hash"] = facts.device_hash[:12]
    data["fingerprint_hash"] = facts.fingerprint_hash[:12]
    data["ip_hash"] = facts.ip_hash[:12]
    return data


# --- The friend's first order ------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstOrderFacts:
    """The friend's first order and what the database knows around it (never raw card data)."""

    order: str = ""  # the order's external id, for staff
    card_fingerprint: str = ""
    card_used_by_referrer: bool = False
    # Accounts (not the referrer, not the friend) seen on one of the referrer's devices that used the card.
    card_accounts_on_referrer_devices: tuple[int, ...] = ()
    # Accounts (not the referrer, not the friend) that used the card before the friend did.
    card_accounts_before_friend: tuple[int, ...] = ()
    # Only when the first order completed: when, and the referrer's other qualified friends whose
    # first order completed within 24 hours of it, as (referral id, completed at).
    completed_at: datetime | None = None
    referrer_qualified_nearby: tuple[tuple[int, datetime], ...] = ()


def busiest_window(
    at: datetime, others: tuple[tuple[int, datetime], ...], *, window: timedelta = REFERRER_BURST_WINDOW
) -> tuple[datetime, list[int]]:
    """The window [start, start + window) containing `at` that holds most of `others`: (start, their ids).

    Events arrive in any order, so the window may reach past `at`: whichever
    completion of a burst is heard last is the one held for review, and no
    24-hour window ever passes more than the limit automatically. With every
    other completion before `at` this is simply "the preceding 24 hours".
    """
    starts = sorted({at, *(when for _, when in others if at - window < when <= at)})
    best_start = at
    best: list[int] = []
    for start in starts:
        inside = sorted(pk for pk, when in others if start <= when < start + window)
        if len(inside) > len(best):
            best_start, best = start, inside
    return best_start, best


def decide_first_order(facts: FirstOrderFacts, rules: RuleSettings = TODAY) -> Decision:
    """Apply the first-order rules (card links, referrer bursts); outcome "voided", "under_review" or "allowed"."""
    strong: list[str] = []
    shared_with_referrer = facts.card_used_by_referrer or bool(facts.card_accounts_on_referrer_devices)
    if shared_with_referrer:
        strong.append(ReasonCode.SHARED_PAYMENT_METHOD)
    if facts.card_accounts_before_friend:
        strong.append(ReasonCode.ALREADY_REGISTERED)

    medium: list[str] = []
    burst: dict | None = None
    completed_at = facts.completed_at
    if completed_at is not None:
        start, others = busiest_window(completed_at, facts.referrer_qualified_nearby)
        burst = {
            "limit": rules.referrer_burst_limit,
            "window_hours": int(REFERRER_BURST_WINDOW.total_seconds() // 3600),
            "window_start": start.isoformat(),
            "window_end": (start + REFERRER_BURST_WINDOW).isoformat(),
            "other_qualified_friends": len(others),
            "other_referral_ids": others,
        }
        if len(others) + 1 > rules.referrer_burst_limit:
            medium.append(ReasonCode.REFERRER_BURST)

    if strong:
        outcome, reason = VOIDED, str(strong[0])
    elif medium:
        outcome, reason = UNDER_REVIEW, str(medium[0])
    else:
        outcome, reason = ALLOWED, ""
    checks = {
        "card_used_by_referrer": facts.card_used_by_referrer,
        "card_used_on_referrers_devices": bool(facts.card_accounts_on_referrer_devices),
        "card_used_before_by_another_account": bool(facts.card_accounts_before_friend),
    }
    staff_facts: dict = {
        "order": facts.order,
        # A prefix is enough to find the card rows; the full fingerprint stays in the orders table.
        "card_fingerprint": facts.card_fingerprint[:12],
        "card_accounts_on_referrer_devices": list(facts.card_accounts_on_referrer_devices),
        "card_accounts_before_friend": list(facts.card_accounts_before_friend),
    }
    if burst is not None and completed_at is not None:
        checks["referrer_burst"] = bool(medium)
        staff_facts["completed_at"] = completed_at.isoformat()
        staff_facts["referrer_burst"] = burst
    signals = {
        "outcome": outcome,
        "reason_code": reason,
        "strong": [str(code) for code in strong],
        "medium": [str(code) for code in medium],
        "weak": [],
        "checks": checks,
        "facts": staff_facts,
        "rules": rules.record(),
    }
    return Decision(outcome, reason, signals)
