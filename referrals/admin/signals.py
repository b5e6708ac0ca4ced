"""The signals a referral's automatic decisions stored, as titled tables of (label, value, tone) rows."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from referrals.reasons import ReasonCode, staff_label


def _label(code: str) -> str:
    """A reason code as staff read it: "Friend is the referrer (SELF_REFERRAL)"."""
    return f"{staff_label(code)} ({code})" if code in ReasonCode.values else str(code)


def _flatten(prefix: str, value, rows: list) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, rows)
    elif isinstance(value, list | tuple | set | frozenset):
        rows.append((prefix, ", ".join(str(v) for v in value) or "—", ""))
    elif isinstance(value, bool):
        rows.append((prefix, "yes" if value else "no", "warning" if value else ""))
    else:
        rows.append((prefix, "—" if value in (None, "") else str(value), ""))


def _decision_rows(signals: dict) -> list:
    rows = []
    for strength, tone in (("strong", "danger"), ("medium", "warning"), ("weak", "")):
        if strength in signals:
            codes = signals.get(strength) or []
            rows.append((strength, ", ".join(_label(c) for c in codes) or "none", tone if codes else ""))
    return rows


def signals_sections(signals: dict | None) -> list[dict]:
    """The stored signals as titled tables of (label, value, tone) rows, for people rather than JSON readers."""
    signals = dict(signals or {})
    if not signals:
        return []
    sections = []
    rerun = signals.pop("rerun", None)
    first_order = signals.pop("first_order", None)
    decision = _decision_rows(signals)
    if decision:
        sections.append({"title": "Automatic decision", "rows": decision})
    checks = signals.pop("checks", None)
    if checks:
        rows: list = []
        _flatten("", checks, rows)
        sections.append(
            {"title": "Checks against the referrer", "rows": [(k.replace("_", " "), v, t) for k, v, t in rows]}
        )
    facts = signals.pop("facts", None)
    if facts:
        rows = []
        _flatten("", facts, rows)
        sections.append({"title": "Facts read at sign-up", "rows": [(k.replace("_", " "), v, "") for k, v, _ in rows]})
    if isinstance(first_order, dict):
        sections.append(_first_order_section(first_order))
    other = {k: v for k, v in signals.items() if k not in ("strong", "medium", "weak")}
    if other:
        rows = []
        _flatten("", other, rows)
        sections.append({"title": "Other signals", "rows": rows})
    if isinstance(rerun, dict):
        rows = [
            (
                "outcome",
                f"{rerun.get('outcome')} {_label(rerun['reason_code']) if rerun.get('reason_code') else ''}",
                "",
            ),
            (
                "differs from the referral's state",
                "yes" if rerun.get("differs") else "no",
                "warning" if rerun.get("differs") else "",
            ),
            ("run at", rerun.get("at", ""), ""),
            ("run by", rerun.get("by", ""), ""),
            *_decision_rows(rerun.get("signals") or {}),
        ]
        sections.append({"title": "Last eligibility re-run (state unchanged)", "rows": rows})
    return sections


def _first_order_section(first_order: dict) -> dict:
    """The decision taken at the friend's first order (card links, referrer burst), with what it read."""
    reason = first_order.get("reason_code") or ""
    rows = [
        ("outcome", f"{first_order.get('outcome', '')} {_label(reason) if reason else ''}".strip(), ""),
        *_decision_rows(first_order),
    ]
    for key in ("checks", "facts", "rules"):  # rules: the version and thresholds the decision applied
        found: list = []
        _flatten("rules" if key == "rules" else "", first_order.get(key) or {}, found)
        rows += [(label.replace("_", " "), value, tone) for label, value, tone in found]
    if first_order.get("checked_at"):
        rows.append(("checked at", first_order["checked_at"], ""))
    return {"title": "Decision at the first order", "rows": rows}


def render_signals(signals: dict | None) -> SafeString:
    return SafeString(render_to_string("admin/referrals/signals_table.html", {"sections": signals_sections(signals)}))
