"""ZendeskSupport over HTTP against the Zendesk sandbox: customers by external id, open tickets, internal
notes once, organization fields, auth and rate limits."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from localcloud.sandboxes.zendesk import ZendeskSandbox
from o2c_cli.doctor import Stage, check_zendesk
from shared.errors import UnknownFields
from shared.outbound import AuthError, TransientError
from shared.outbound.http import JsonHttp
from shared.outbound.zendesk import ZendeskSupport, api_token_auth, oauth_auth
from tests.connectors.conftest import FakeSleep

EMAIL = "o2c-hub@example.com"
TOKEN = "zd-api-token-unit"
OAUTH = "zd-oauth-unit"


@pytest.fixture
def zendesk() -> Iterator[ZendeskSandbox]:
    with ZendeskSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/zendesk",
        email=EMAIL,
        api_token=TOKEN,
        signing_secret="c2VjcmV0",
        oauth_token=OAUTH,
    ) as sandbox:
        yield sandbox  # type: ignore[misc]


def support(sandbox: ZendeskSandbox, sleep: FakeSleep | None = None, *, token: str = TOKEN) -> ZendeskSupport:
    auth = api_token_auth(EMAIL, lambda: token)
    http = JsonHttp(sandbox.url, auth_headers=auth, sleep=sleep or FakeSleep())
    return ZendeskSupport(sandbox.url, auth_headers=auth, http=http)


def given_customer(zendesk: ZendeskSandbox, external_id: str = "1042") -> tuple[int, int]:
    org = zendesk.create_organization("Acme GmbH", external_id=external_id)
    user = zendesk.create_user("Ada Payable", "ap@acme.de", external_id=external_id, organization_id=org)
    return org, user


def test_finds_the_customer_by_external_id_and_only_its_unsolved_tickets(zendesk: ZendeskSandbox) -> None:
    # Given a customer (organization and user with the ERP id) with an open, a pending and a solved ticket,
    # and another customer's ticket
    org, user = given_customer(zendesk)
    open_ = zendesk.create_ticket("Charged twice?", requester_id=user, organization_id=org)
    pending = zendesk.create_ticket("Where is my refund?", requester_id=user, status="pending")
    zendesk.create_ticket("Old question", requester_id=user, organization_id=org, status="solved")
    other_org, other_user = given_customer(zendesk, "2077")
    zendesk.create_ticket("Not theirs", requester_id=other_user, organization_id=other_org)
    desk = support(zendesk)

    # When the hub looks the customer up
    found = desk.find_organization("1042")
    users = desk.find_users("1042")
    tickets = desk.open_tickets(organization_id=found["id"] if found else None, user_ids=(users[0]["id"],))

    # Then it has the organization, the user, and the unsolved tickets once each
    assert found is not None and found["id"] == org
    assert [u["id"] for u in users] == [user]
    assert [t["id"] for t in tickets] == sorted([open_, pending])
    assert desk.find_organization("9999") is None


def test_an_internal_note_is_added_once_and_is_not_public(zendesk: ZendeskSandbox) -> None:
    org, user = given_customer(zendesk)
    ticket = zendesk.create_ticket("Charged twice?", requester_id=user, organization_id=org)
    desk = support(zendesk)

    first = desk.add_internal_note(ticket, "Payment failed: 12.00 EUR.", reference="evt-1")
    again = desk.add_internal_note(ticket, "Payment failed: 12.00 EUR.", reference="evt-1")

    assert (first, again) == (True, False)
    assert zendesk.notes(ticket) == ["Payment failed: 12.00 EUR.\n\no2c-ref: evt-1"]
    assert all(not c["public"] for c in desk.comments(ticket) if "o2c-ref" in c["body"])


def test_a_note_whose_put_timed_out_after_zendesk_stored_it_is_not_added_twice(
    zendesk: ZendeskSandbox,
) -> None:
    # Given Zendesk stores the note but the answer never arrives (a 503 after the write is the same to us)
    org, user = given_customer(zendesk)
    ticket = zendesk.create_ticket("Charged twice?", requester_id=user, organization_id=org)
    desk = support(zendesk)
    desk.add_internal_note(ticket, "Refund booked.", reference="evt-2")

    # When the hub retries the whole attempt
    zendesk.fail_next(503)  # the comments read fails once, then the attempt is retried
    assert desk.add_internal_note(ticket, "Refund booked.", reference="evt-2") is False

    # Then there is still one note
    assert zendesk.notes(ticket) == ["Refund booked.\n\no2c-ref: evt-2"]


def test_organization_fields_are_set_and_a_missing_field_is_named(zendesk: ZendeskSandbox) -> None:
    org, _ = given_customer(zendesk)
    zendesk.create_organization_field("o2c_payment_status", "Payment status")
    zendesk.create_organization_field("o2c_open_disputes", "Open disputes", "integer")
    desk = support(zendesk)

    desk.update_organization_fields(org, {"o2c_payment_status": "payment_failed", "o2c_open_disputes": 1})
    assert zendesk.organization(org)["organization_fields"] == {
        "o2c_payment_status": "payment_failed",
        "o2c_open_disputes": 1,
    }

    with pytest.raises(UnknownFields) as refused:
        desk.update_organization_fields(org, {"o2c_dunning": "past_due"})
    assert refused.value.fields == ("o2c_dunning",)
    assert "o2c_dunning" not in zendesk.organization(org)["organization_fields"]


def test_a_wrong_token_is_an_auth_error_and_no_auth_is_refused(zendesk: ZendeskSandbox) -> None:
    with pytest.raises(AuthError):
        support(zendesk, token="not-the-token").current_user()
    bare = ZendeskSupport(zendesk.url, auth_headers=dict)
    with pytest.raises(AuthError) as refused:
        bare.find_users("1042")
    assert refused.value.status == 401


def test_oauth_bearer_and_api_token_both_authenticate(zendesk: ZendeskSandbox) -> None:
    assert support(zendesk).current_user()["email"] == EMAIL
    bearer = ZendeskSupport(zendesk.url, auth_headers=oauth_auth(lambda: OAUTH))
    assert bearer.current_user()["email"] == EMAIL
    header = api_token_auth(EMAIL, lambda: TOKEN)()["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")) == f"{EMAIL}/token:{TOKEN}".encode()


def test_rate_limits_are_waited_for_as_zendesk_asks(zendesk: ZendeskSandbox) -> None:
    sleep = FakeSleep()
    zendesk.fail_next(429, retry_after=2)
    assert support(zendesk, sleep).find_organization("1042") is None
    assert sleep.waits == [2.0]

    zendesk.fail_next(429, count=5, retry_after=1)
    with pytest.raises(TransientError):
        support(zendesk, FakeSleep()).find_organization("1042")


def test_tickets_are_read_across_pages(zendesk: ZendeskSandbox) -> None:
    org, user = given_customer(zendesk)
    made = [zendesk.create_ticket(f"t{i}", requester_id=user, organization_id=org) for i in range(105)]
    assert [t["id"] for t in support(zendesk).open_tickets(organization_id=org)] == made


def _stage(zendesk: ZendeskSandbox, creds: dict[str, object], field_id: str = "360000000777") -> Stage:
    return Stage(
        name="test",
        settings={"ZENDESK_API_BASE_URL": zendesk.url, "ZENDESK_PAYMENT_INTENT_FIELD_ID": field_id},
        secrets={"ZendeskCredentials": {"signing_secrets": ["c2VjcmV0"], **creds}},
        public_url="https://hooks.example.com",
    )


def test_doctor_checks_the_zendesk_credentials_and_fields(zendesk: ZendeskSandbox) -> None:
    # Given an account where the admin created only one of the hub's organization fields
    zendesk.create_organization_field("o2c_payment_status", "Payment status")

    good = {f.check: f for f in check_zendesk(_stage(zendesk, {"email": EMAIL, "api_token": TOKEN}))}
    wrong = check_zendesk(_stage(zendesk, {"email": EMAIL, "api_token": "revoked"}))

    assert good["zendesk credentials"].ok
    assert not good["zendesk organization fields"].ok
    assert "o2c_dunning" in good["zendesk organization fields"].detail
    assert good["zendesk refund field"].ok
    assert [(f.check, f.ok) for f in wrong] == [("zendesk credentials", False)]
