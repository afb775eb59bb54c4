"""HubSpot CRM (v3 objects API, private-app bearer token): a won deal → ``CrmOpportunity``; write-back.

Calls, as HubSpot documents them:
- ``GET /crm/v3/objects/deals/{id}?properties=...&associations=companies,contacts,line_items`` (with
  ``propertiesWithHistory=dealstage`` when the stage decides: one read gives the state and the snapshot)
- ``POST /crm/v3/objects/{companies|contacts|line_items}/batch/read`` ``{"properties", "inputs": [{"id"}]}``
  (100 ids per call; 207 multi-status when some ids are gone: those are skipped)
- ``PATCH /crm/v3/objects/deals/{id}`` ``{"properties": {...}}``; a property the portal does not have is
  refused (400 ``PROPERTY_DOESNT_EXIST``) and raised as ``UnknownFields`` naming it
- ``POST /crm/v3/objects/tasks`` (task → deal, association type 216): HubSpot does not make it idempotent,
  so a retry first searches (``POST /crm/v3/objects/tasks/search``) for the task an earlier attempt may have
  created, by its subject (which carries the idempotency key) and its deal, and sends the POST once per attempt
- ``GET|POST /crm/v3/properties/{objectType}[/{name}]`` for ``o2c setup crm``

HubSpot property values are strings; money is parsed from them exactly (``from_major``). The deal's
currency is ``deal_currency_code`` (multi-currency portals), else the company's ``currency``, else the
connector's ``default_currency`` (the portal's company currency).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.crm.closed_won import DealState
from shared.crm.models import Account, Address, Contact, CrmOpportunity, LineItem, Recurring
from shared.errors import InvalidRecord, NotFound, PermanentError, UnknownFields
from shared.outbound import _values as v
from shared.outbound.http import JsonHttp

DEFAULT_BASE_URL = "https://api.hubapi.com"

DEAL_PROPERTIES = (
    "dealname",
    "dealstage",
    "amount",
    "deal_currency_code",
    "closedate",
    "hubspot_owner_id",
    "pipeline",
)
COMPANY_PROPERTIES = (
    "name",
    "domain",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "tax_id",
    "currency",
    "o2c_region",
)
CONTACT_PROPERTIES = ("email", "firstname", "lastname")
LINE_ITEM_PROPERTIES = (
    "name",
    "quantity",
    "price",
    "amount",
    "hs_product_id",
    "hs_sku",
    "hs_line_item_currency_code",
    # a recurring line (HubSpot's default line item properties "Billing frequency", "Term", "Billing start
    # date"): a subscription deal
    "recurringbillingfrequency",
    "hs_recurring_billing_period",
    "hs_recurring_billing_start_date",
)
#: What ``fetch_deal_state`` reads: the stage and HubSpot's own timestamps.
STATE_PROPERTIES = ("dealstage", "closedate", "hs_lastmodifieddate")
BATCH_READ_LIMIT = 100
PRIMARY_COMPANY_TYPE = "deal_to_company"

_OBJECT_ID = re.compile(r"^[0-9]{1,20}$")


def bearer(access_token: Callable[[], str]) -> Callable[[], dict[str, str]]:
    """``auth_headers`` for a ``JsonHttp`` that talks to HubSpot with a private-app token."""
    return lambda: {"Authorization": f"Bearer {access_token()}"}


class HubSpotCrm:
    """``access_token`` is called per request (it is read from a cached secret). ``http``, when given, is
    used as is: it must point at ``base_url`` and carry the bearer token (see ``bearer``)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        access_token: Callable[[], str],
        http: JsonHttp | None = None,
        default_currency: str | None = None,
    ) -> None:
        self._http = http or JsonHttp(base_url, auth_headers=bearer(access_token))
        self._default_currency = v.currency(default_currency, "default_currency")

    def fetch_opportunity(self, deal_id: str) -> CrmOpportunity:
        """The deal with its primary company, contacts and line items. Raises ``NotFound`` for an unknown
        deal, ``InvalidRecord`` when it cannot be mapped (no company, bad amounts), other
        ``ConnectorError``s as the HTTP client classifies them."""
        deal_id = _object_id(deal_id, "deal id")
        return self._opportunity_of(deal_id, self._get_deal(deal_id, with_history=False))

    def fetch_deal_state(self, deal_id: str) -> DealState:
        """The deal's stage as HubSpot has it now, and when it got there: ``GET /crm/v3/objects/deals/{id}``
        with ``propertiesWithHistory=dealstage`` (newest first). Raises ``NotFound`` for an unknown deal."""
        deal_id = _object_id(deal_id, "deal id")
        deal = self._http.request(
            "GET",
            f"/crm/v3/objects/deals/{deal_id}",
            query={"properties": ",".join(STATE_PROPERTIES), "propertiesWithHistory": "dealstage"},
        )
        return _deal_state(deal_id, deal)

    def fetch_state_and_opportunity(self, deal_id: str) -> tuple[DealState, Callable[[], CrmOpportunity]]:
        """``fetch_deal_state`` and ``fetch_opportunity`` from ONE read of the deal (HubSpot's
        ``GET /crm/v3/objects/deals/{id}`` takes ``properties``, ``propertiesWithHistory`` and
        ``associations`` together): the state now, and a function that reads the deal's company, contacts
        and line items (batch reads) and maps that same read of the deal — called only when the state says
        the deal is to be booked, so a deal that is not won costs one request."""
        deal_id = _object_id(deal_id, "deal id")
        deal = self._get_deal(deal_id, with_history=True)
        return _deal_state(deal_id, deal), lambda: self._opportunity_of(deal_id, deal)

    def _get_deal(self, deal_id: str, *, with_history: bool) -> Any:
        query = {
            "properties": ",".join(dict.fromkeys((*DEAL_PROPERTIES, *STATE_PROPERTIES))),
            "associations": "companies,contacts,line_items",
        }
        if with_history:
            query["propertiesWithHistory"] = "dealstage"
        return self._http.request("GET", f"/crm/v3/objects/deals/{deal_id}", query=query)

    def _opportunity_of(self, deal_id: str, deal: Any) -> CrmOpportunity:
        if not isinstance(deal, dict):
            raise InvalidRecord(f"deal {deal_id}: unexpected response shape")
        associations = deal.get("associations") or {}
        company_ids = _associated_ids(associations, "companies", primary_type=PRIMARY_COMPANY_TYPE)
        if not company_ids:
            raise InvalidRecord(f"deal {deal_id} has no associated company")
        companies = self._batch_read("companies", company_ids[:1], COMPANY_PROPERTIES)
        if not companies:
            raise NotFound(f"deal {deal_id}: company {company_ids[0]} not found")
        contacts = self._batch_read("contacts", _associated_ids(associations, "contacts"), CONTACT_PROPERTIES)
        lines = self._batch_read(
            "line_items",
            _associated_ids(associations, "line_items", "line items"),
            LINE_ITEM_PROPERTIES,
        )
        return _opportunity(deal_id, deal, companies[0], contacts, lines, self._default_currency)

    def update_deal(self, deal_id: str, properties: Mapping[str, str]) -> None:
        """Write properties back on the deal (e.g. the ERP order number). Values are sent as strings."""
        deal_id = _object_id(deal_id, "deal id")
        try:
            self._http.request(
                "PATCH",
                f"/crm/v3/objects/deals/{deal_id}",
                json={"properties": {k: ("" if val is None else str(val)) for k, val in properties.items()}},
            )
        except PermanentError as exc:
            missing = _missing_properties(exc)
            if not missing:
                raise
            raise UnknownFields(
                f"HubSpot has no deal properties {', '.join(missing)} (create them: o2c setup crm)",
                fields=missing,
                status=exc.status,
                code=exc.code,
            ) from exc

    def write_payment_status(self, deal_id: str, status: str) -> None:
        """The hub's payment status of the deal (its ``o2c_payment_status`` property: ``paid``, ``past_due``)."""
        self.update_deal(deal_id, {"o2c_payment_status": status})

    def create_task(
        self,
        deal_id: str,
        *,
        subject: str,
        body: str,
        due: datetime,
        owner_id: str | None,
        idempotency_key: str,
    ) -> str:
        """A task on the deal for its owner (``POST /crm/v3/objects/tasks``, associated to the deal), created
        once per ``idempotency_key`` however often this is retried: the key ends the subject, and every attempt
        first looks for a task of the deal with that subject."""
        deal_id = _object_id(deal_id, "deal id")
        subject = f"{subject} [{idempotency_key}]"
        properties = {
            "hs_task_subject": subject,
            "hs_task_body": body,
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
            "hs_timestamp": due.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        if owner_id:
            properties["hubspot_owner_id"] = str(owner_id)
        create = {
            "properties": properties,
            # 216: HubSpot-defined association type task → deal
            "associations": [
                {
                    "to": {"id": deal_id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 216}],
                }
            ],
        }

        def attempt() -> str:
            earlier = self.find_task(deal_id, subject)
            if earlier is not None:
                return earlier
            answer = self._http.request("POST", "/crm/v3/objects/tasks", json=create, max_attempts=1)
            return str(answer["id"])

        return self._http.retrying(attempt, what="POST /crm/v3/objects/tasks")

    def find_task(self, deal_id: str, subject: str) -> str | None:
        """The id of a task of the deal with exactly this subject, if there is one."""
        answer = self._http.request(
            "POST",
            "/crm/v3/objects/tasks/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "hs_task_subject", "operator": "EQ", "value": subject},
                            {"propertyName": "associations.deal", "operator": "EQ", "value": deal_id},
                        ]
                    }
                ],
                "properties": ["hs_task_subject"],
                "limit": 1,
            },
            max_attempts=1,
        )
        results = (answer or {}).get("results") or []
        return str(results[0]["id"]) if results else None

    # --- properties (o2c setup crm) ----------------------------------------------------------------

    def get_property(self, object_type: str, name: str) -> dict[str, Any] | None:
        """The portal's property definition, or None when the portal has no such property."""
        try:
            answer = self._http.request("GET", f"/crm/v3/properties/{object_type}/{name}")
        except NotFound:
            return None
        return dict(answer or {})

    def create_property(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/properties/{objectType}`` with a ``PropertyCreate`` body."""
        return dict(
            self._http.request("POST", f"/crm/v3/properties/{object_type}", json=dict(definition)) or {}
        )

    def _batch_read(
        self, object_type: str, ids: list[str], properties: Iterable[str]
    ) -> list[dict[str, Any]]:
        """Records in the order of ``ids``; ids HubSpot no longer has are left out."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH_READ_LIMIT):
            chunk = ids[start : start + BATCH_READ_LIMIT]
            answer = self._http.request(
                "POST",
                f"/crm/v3/objects/{object_type}/batch/read",
                json={"properties": list(properties), "inputs": [{"id": i} for i in chunk]},
            )
            for record in (answer or {}).get("results") or []:
                found[str(record.get("id"))] = record
        return [found[i] for i in ids if i in found]


def _deal_state(deal_id: str, deal: Any) -> DealState:
    if not isinstance(deal, dict) or not isinstance(deal.get("properties"), dict):
        raise InvalidRecord(f"deal {deal_id}: unexpected response shape")
    props = deal["properties"]
    stage = v.text(props.get("dealstage")) or ""
    history = (deal.get("propertiesWithHistory") or {}).get("dealstage") or []
    entered = [
        _instant(h.get("timestamp")) for h in history if isinstance(h, dict) and str(h.get("value")) == stage
    ]
    entered_at = max((t for t in entered if t is not None), default=None)
    won_at = entered_at or _instant(props.get("closedate")) or _instant(props.get("hs_lastmodifieddate"))
    return DealState(stage=stage, is_won=None, won_at=won_at)


def _missing_properties(exc: PermanentError) -> tuple[str, ...]:
    """Names HubSpot reports as ``PROPERTY_DOESNT_EXIST`` in a 400 ``VALIDATION_ERROR``."""
    if exc.status != 400:
        return ()
    names: list[str] = []
    for entry in exc.vendor_errors:
        if entry.get("code") != "PROPERTY_DOESNT_EXIST":
            continue
        context = entry.get("context") or {}
        for name in (context.get("propertyName") if isinstance(context, dict) else None) or []:
            if str(name) not in names:
                names.append(str(name))
    return tuple(names)


def _instant(value: object) -> datetime | None:
    """A HubSpot datetime property (ISO 8601, e.g. ``2026-11-27T10:15:00.000Z``, or epoch milliseconds)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _object_id(value: object, what: str) -> str:
    text = str(value).strip()
    if not _OBJECT_ID.match(text):
        raise InvalidRecord(f"{what} {text[:40]!r} is not a HubSpot object id")
    return text


def _associated_ids(
    associations: Mapping[str, Any], *keys: str, primary_type: str | None = None
) -> list[str]:
    """Ids of one association type, de-duplicated (HubSpot lists a primary company under both its labelled
    and unlabelled type), the primary first."""
    results: list[dict[str, Any]] = []
    for key in keys:
        results.extend(((associations.get(key) or {}).get("results")) or [])
    ordered = sorted(results, key=lambda r: 0 if primary_type and r.get("type") == primary_type else 1)
    ids: list[str] = []
    for result in ordered:
        rid = str(result.get("id", ""))
        if rid and rid not in ids:
            ids.append(rid)
    return ids


def _opportunity(
    deal_id: str,
    deal: Mapping[str, Any],
    company: Mapping[str, Any],
    contacts: list[dict[str, Any]],
    lines: list[dict[str, Any]],
    default_currency: str | None,
) -> CrmOpportunity:
    props = deal.get("properties") or {}
    cprops = company.get("properties") or {}
    company_currency = v.currency(cprops.get("currency"), "company.currency")
    currency = v.currency(props.get("deal_currency_code"), "deal.deal_currency_code") or company_currency
    currency = currency or default_currency
    if currency is None:
        raise InvalidRecord(f"deal {deal_id}: no currency (deal_currency_code, company currency, default)")
    try:
        line_items = tuple(_line_item(line, currency) for line in lines)
        amount = v.decimal(props.get("amount"), "deal.amount")
        if amount is not None:
            total = v.money(amount, currency, "deal.amount")
        elif line_items:
            total = sum((li.amount for li in line_items[1:]), line_items[0].amount)
        else:
            raise InvalidRecord(f"deal {deal_id}: no amount and no line items")
        return CrmOpportunity(
            crmSystem="hubspot",
            opportunityId=deal_id,
            name=v.text(props.get("dealname")) or f"Deal {deal_id}",
            stage=v.text(props.get("dealstage")) or "",
            closeDate=v.day(props.get("closedate"), "deal.closedate"),
            ownerId=v.text(props.get("hubspot_owner_id")),
            amount=total,
            account=Account(
                accountId=str(company.get("id")),
                name=v.text(cprops.get("name")) or f"Company {company.get('id')}",
                billingAddress=Address(
                    street=v.text(cprops.get("address")),
                    city=v.text(cprops.get("city")),
                    state=v.text(cprops.get("state")),
                    postalCode=v.text(cprops.get("zip")),
                    country=v.text(cprops.get("country")),
                ),
                currency=company_currency or currency,
                taxId=v.text(cprops.get("tax_id")),
                domain=v.text(cprops.get("domain")),
                region=v.text(cprops.get("o2c_region")),
            ),
            contacts=tuple(
                Contact(
                    contactId=str(c.get("id")),
                    email=v.text((c.get("properties") or {}).get("email")),
                    firstName=v.text((c.get("properties") or {}).get("firstname")),
                    lastName=v.text((c.get("properties") or {}).get("lastname")),
                )
                for c in contacts
            ),
            lines=line_items,
        )
    except InvalidRecord:
        raise
    except ValueError as exc:  # pydantic's ValidationError included
        raise InvalidRecord(f"deal {deal_id}: {exc}") from None


def _line_item(line: Mapping[str, Any], deal_currency: str) -> LineItem:
    props = line.get("properties") or {}
    line_id = str(line.get("id"))
    field = f"line_item {line_id}"
    currency = v.currency(props.get("hs_line_item_currency_code"), f"{field}.currency") or deal_currency
    if currency != deal_currency:
        raise InvalidRecord(f"{field}: currency {currency} differs from the deal's {deal_currency}")
    quantity, unit_price, line_amount = v.priced_line(
        props.get("quantity"),
        props.get("price"),
        props.get("amount"),
        currency,
        fields=(f"{field}.quantity", f"{field}.price", f"{field}.amount"),
    )
    return LineItem(
        lineItemId=line_id,
        productId=v.text(props.get("hs_product_id")),
        sku=v.text(props.get("hs_sku")),
        name=v.text(props.get("name")) or line_id,
        quantity=quantity,
        unitPrice=unit_price,
        amount=line_amount,
        recurring=_recurring(props, field),
    )


#: HubSpot's ``recurringbillingfrequency`` options → Stripe's (interval, interval_count). HubSpot's "every 4
#: years" and "every 5 years" have no Stripe price (Stripe bills at most every 3 years): refused.
_FREQUENCIES = {
    "weekly": ("week", 1),
    "biweekly": ("week", 2),
    "monthly": ("month", 1),
    "quarterly": ("month", 3),
    "per_six_months": ("month", 6),
    "annually": ("year", 1),
    "per_two_years": ("year", 2),
    "per_three_years": ("year", 3),
}
_TERM = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?$")


def _recurring(props: Mapping[str, Any], field: str) -> Recurring | None:
    """A line with a billing frequency is recurring: its interval, its term (``hs_recurring_billing_period``,
    an ISO 8601 period such as ``P12M``) and its billing start date. No frequency: a one-time line."""
    billed = v.cadence(
        props.get("recurringbillingfrequency"), _FREQUENCIES, f"{field}.recurringbillingfrequency"
    )
    if billed is None:
        return None
    interval, count = billed
    term_text = v.text(props.get("hs_recurring_billing_period"))
    term = None
    if term_text is not None:
        match = _TERM.match(term_text)
        if match is None or not (match.group(1) or match.group(2)):
            raise InvalidRecord(f"{field}.hs_recurring_billing_period: {term_text!r} is not a term in months")
        term = int(match.group(1) or 0) * 12 + int(match.group(2) or 0)
    return Recurring(
        interval=interval,  # type: ignore[arg-type]
        intervalCount=count,
        startDate=v.day(
            props.get("hs_recurring_billing_start_date"), f"{field}.hs_recurring_billing_start_date"
        ),
        termMonths=term or None,
    )
