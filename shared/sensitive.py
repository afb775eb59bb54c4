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

# 13-19 digits, each optionally separated from the next by one space or dash; not part of a longer digit run.
_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


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
