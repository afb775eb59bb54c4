"""What counts as a card number in an id: the formats a leaked PAN takes, and none of the ids the hub and its
vendors mint (a false positive refuses a real fact with a 400 the vendor never retries)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.sensitive import contains_card_number, luhn_valid, mask_card_numbers


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "corr-5555555555554444",
        "pi_4111111111111111",
        "3782 822463 10005",  # Amex grouping
        "378282246310005",
        "card: 4000 0566 5566 5556.",
        "6011111111111117",
    ],
)
def test_a_leaked_card_number_is_found_in_its_usual_formats(text: str) -> None:
    assert contains_card_number(text)
    assert not contains_card_number(mask_card_numbers(text))


@pytest.mark.parametrize(
    "text",
    [
        "90601-12345678",  # an ERP document number with a suffix, whatever its digits
        "INV-2026-000123456",
        "4242424242424241",  # fails Luhn
        "abc4242424242424242",  # glued to letters: part of a token, not a card number
        "evt_1Demo0002xyz",
        "1766400000",  # a unix timestamp
    ],
)
def test_ids_that_only_contain_digits_are_not_card_numbers(text: str) -> None:
    assert not contains_card_number(text)


@settings(max_examples=3000, deadline=None)
@given(st.uuids())
def test_no_uuid_is_ever_a_card_number(value: uuid.UUID) -> None:
    # Given the ids the hub and API Gateway mint (UUIDs, dashed or as hex)
    # Then none is refused as card data, whatever its digits happen to be
    assert not contains_card_number(str(value))
    assert not contains_card_number(value.hex)
    assert not contains_card_number(f"msg_{value.hex}")


def test_an_erp_id_with_a_random_suffix_is_not_a_card_number_even_when_its_digits_pass_luhn() -> None:
    # the id a flaky run refused: the sample deposit id "90601" tagged with eight random hex characters that
    # happened to be digits, which read across the dash pass Luhn
    tagged = "90601-00000004"
    assert luhn_valid(tagged.replace("-", ""))
    assert not contains_card_number(tagged)
    assert not contains_card_number("abcdefab-4111-1111-1111-1111abcdefab")
