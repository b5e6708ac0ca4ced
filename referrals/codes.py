"""Referral code format: short, unguessable, case-insensitive, no ambiguous characters."""

from __future__ import annotations

import math
import secrets

# No 0/O, 1/I/L, U (avoids accidental words): 30 symbols.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 9
ENTROPY_BITS = LENGTH * math.log2(len(ALPHABET))  # ≈ 44.2 bits


def generate_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_code(raw: str) -> str:
    """Upper case, spaces and dashes removed (codes are case-insensitive).

    The ambiguous symbols (0/O, 1/I/L, U) are never generated, so a code typed
    with one of them simply does not match; there is nothing to map them to.
    """
    return (raw or "").strip().upper().replace("-", "").replace(" ", "")[:32]


def looks_valid(code: str) -> bool:
    return len(code) == LENGTH and all(ch in ALPHABET for ch in code)
