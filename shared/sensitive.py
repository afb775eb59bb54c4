"""Card numbers must never become ids: not in logs, not as lineage keys, not in a correlation id.

A provider may put whatever it likes in a field the hub uses as an id (Stripe metadata, an ERP reference,
an ``X-Correlation-Id``). Anything that looks like a payment card number (PAN) — 13 to 19 digits, possibly
grouped with spaces or dashes, that passes the Luhn check — is refused at the edge (``contains_card_number``)
and masked wherever a value is stored (``mask_card_numbers``: all but the last four digits become ``*``).
Masking is the PCI DSS display rule (at most the last four digits); no hash of a card number is ever kept,
because an unkeyed hash of a PAN can be brute-forced.
"""

from __future__ import annotations

import re

# A card number as people and systems write one: 13-19 digits in one run, or grouped as printed on cards —
# 4-4-4-4 (up to 4-4-4-7 for 19 digits) or Amex's 4-6-5, with one kind of separator (space or dash). It stands
# on its own: not glued to letters or other digits. Hex ids (UUIDs, uuid4().hex) and document numbers with
# other groupings ("90601-12345678", "INV-2026-000123456") are not card numbers, and refusing them as such
# would lose real facts: the test suite saw a random UUID's digits read across its dashes pass Luhn.
_EDGE_BEFORE = r"(?<![0-9A-Za-z])"
_EDGE_AFTER = r"(?![0-9A-Za-z])"
_CANDIDATE = re.compile(
    _EDGE_BEFORE
    + r"(?:[0-9]{13,19}"
    + r"|[0-9]{4}(?P<s1>[ -])[0-9]{4}(?P=s1)[0-9]{4}(?P=s1)[0-9]{1,7}"
    + r"|[0-9]{4}(?P<s2>[ -])[0-9]{6}(?P=s2)[0-9]{5})"
    + _EDGE_AFTER
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if index % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card_spans(text: str) -> list[tuple[int, int, str]]:
    spans = []
    for match in _CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            spans.append((match.start(), match.end(), digits))
    return spans


def contains_card_number(text: str) -> bool:
    """True when ``text`` holds something shaped like a card number (13-19 digits, Luhn-valid)."""
    return bool(_card_spans(text))


def mask_card_numbers(text: str) -> str:
    """``text`` with every card-like number masked to its last four digits (``************1111``)."""
    spans = _card_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end, digits in spans:
        out.append(text[last:start])
        out.append("*" * (len(digits) - 4) + digits[-4:])
        last = end
    out.append(text[last:])
    return "".join(out)
