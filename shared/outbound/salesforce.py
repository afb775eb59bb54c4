"""Salesforce (REST API, OAuth 2.0 client credentials): a won Opportunity → ``CrmOpportunity``; write-back.

- Token: ``POST {my_domain_url}/services/oauth2/token`` (form ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``) → ``{"access_token", "instance_url", ...}``. Salesforce serves the client
  credentials flow on the org's My Domain only (``https://<name>.my.salesforce.com``); ``login.salesforce.com``
  and ``test.salesforce.com`` answer ``invalid_grant`` ("request not supported on this domain"), so they are
  refused here. Cached per process; a 401 from the data
  API fetches a new one once and retries the call. A refused token request is an ``AuthError``.
- Data: ``GET {instance_url}/services/data/{v}/sobjects/{Opportunity|Account}/{id}`` (the whole record, so
  orgs without multi-currency or state/country picklists work too: missing fields just fall back) and
  SOQL ``GET .../query?q=...`` for line items and contact roles, following ``nextRecordsUrl``. A line with
  the custom ``O2C_Billing_Frequency__c`` set is recurring (a subscription, see ``_line_items``).
- Write-back: ``PATCH .../sobjects/Opportunity/{id}`` (204); a field the org does not have (400
  ``INVALID_FIELD``) is raised as ``UnknownFields`` naming it.
- Tasks: upsert on the external id ``O2C_Idempotency_Key__c`` (``PATCH .../sobjects/Task/O2C_Idempotency_Key__c/
  {key}``), so a retried create after a timeout finds the task it made instead of making a second one.
- ``o2c setup crm``: ``GET .../sobjects/{Object}/describe`` and the Tooling API
  ``POST .../tooling/sobjects/CustomField``.

Ids are validated (15 or 18 alphanumerics) before they enter a URL or a SOQL literal. Money comes from
JSON numbers parsed as ``Decimal`` by the HTTP client, never a float.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from shared.crm.closed_won import DealState
from shared.crm.models import Account, Address, Contact, CrmOpportunity, LineItem, Recurring
from shared.errors import AuthError, InvalidRecord, NotFound, PermanentError, UnknownFields
from shared.outbound import _values as v
from shared.outbound.http import JsonHttp

DEFAULT_API_VERSION = "v62.0"
#: the custom (Activity) external id field a task is upserted on; ``o2c setup crm`` deploys it
TASK_IDEMPOTENCY_FIELD = "O2C_Idempotency_Key__c"
#: Salesforce's generic login hosts: they do not serve the client credentials flow
LOGIN_HOSTS = frozenset(
    {"login.salesforce.com", "test.salesforce.com", "login.salesforce.mil", "test.salesforce.mil"}
)

HttpFactory = Callable[[str, Callable[[], dict[str, str]]], JsonHttp]
"""(base_url, auth_headers) → JsonHttp; inject to tune timeouts/retries or a fake sleep."""

_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_API_VERSION = re.compile(r"^v[0-9]{2,3}\.[0-9]$")
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)'")

#: What ``fetch_deal_state`` reads: the stage, Salesforce's own won flag and timestamps.
STATE_FIELDS = ("StageName", "IsWon", "CloseDate", "LastModifiedDate", "SystemModstamp")

#: ``{recurring}``: the recurring-billing custom fields the org has (``, O2C_Billing_Frequency__c, ...``) or nothing
LINE_ITEM_SOQL = (
    "SELECT Id, Product2Id, ProductCode, Name, Quantity, UnitPrice, TotalPrice, ServiceDate{recurring} "
    "FROM OpportunityLineItem WHERE OpportunityId = {id}"
)
#: O2C Hub's OpportunityLineItem custom fields (``o2c setup crm`` deploys them; Salesforce's standard schema has
#: no recurring billing on a line, CPQ's ``SBQQ__`` fields are a managed package an org may lack): a line with a
#: billing frequency is recurring, billed from its standard ``ServiceDate`` ("Date": when the product's revenue
#: is recognized) for ``O2C_Billing_Term_Months__c`` months.
BILLING_FREQUENCY_FIELD = "O2C_Billing_Frequency__c"
BILLING_TERM_FIELD = "O2C_Billing_Term_Months__c"
RECURRING_FIELDS = (BILLING_FREQUENCY_FIELD, BILLING_TERM_FIELD)
#: how long an org found WITHOUT the recurring fields is believed before its describe is read again (an
#: operator runs ``o2c setup crm`` after deploying; warm functions then see the fields within this time)
RECHECK_MISSING_FIELDS_S = 300.0
CONTACT_ROLE_SOQL = (
    "SELECT ContactId, Role, IsPrimary, Contact.Email, Contact.FirstName, Contact.LastName "
    "FROM OpportunityContactRole WHERE OpportunityId = {id}"
)


def _default_http(base_url: str, auth_headers: Callable[[], dict[str, str]]) -> JsonHttp:
    return JsonHttp(base_url, auth_headers=auth_headers)


def soql_literal(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def check_my_domain_url(url: str) -> str:
    """The org's My Domain URL for the token request; ``ValueError`` for a generic login host or no URL."""
    text = (url or "").strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"Salesforce My Domain URL {text!r} is not a URL: expected https://<your-domain>.my.salesforce.com"
        )
    if parts.hostname.lower() in LOGIN_HOSTS:
        raise ValueError(
            f"{text} cannot issue client-credentials tokens (Salesforce answers invalid_grant: request not "
            "supported on this domain): use the org's My Domain URL, https://<your-domain>.my.salesforce.com"
        )
    return text


def salesforce_id(value: object, what: str) -> str:
    text = str(value).strip() if value is not None else ""
    if not _SF_ID.match(text):
        raise InvalidRecord(f"{what} {text[:40]!r} is not a Salesforce id")
    return text


@dataclass(frozen=True)
class _Token:
    access_token: str
    instance_url: str


class SalesforceCrm:
    """``client_secret`` is called when a token is needed (read from a cached secret)."""

    def __init__(
        self,
        my_domain_url: str,
        *,
        client_id: str,
        client_secret: Callable[[], str],
        api_version: str = DEFAULT_API_VERSION,
        http_factory: HttpFactory | None = None,
        default_currency: str | None = None,
        tax_id_field: str = "Tax_Id__c",
        region_field: str = "O2C_Region__c",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not _API_VERSION.match(api_version):
            raise ValueError(f"api_version must look like 'v62.0', got {api_version!r}")
        self._client_id = client_id
        self._client_secret = client_secret
        self._api = f"/services/data/{api_version}"
        self._factory = http_factory or _default_http
        self._login_http = self._factory(check_my_domain_url(my_domain_url), lambda: {})
        self._default_currency = v.currency(default_currency, "default_currency")
        self._tax_id_field = tax_id_field
        self._region_field = region_field
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._data_http: dict[str, JsonHttp] = {}
        self._clock = clock
        #: (the recurring fields the org has, when that was read); None: not read yet
        self._line_fields: tuple[tuple[str, ...], float] | None = None

    # --- the two operations --------------------------------------------------------------------------

    def fetch_opportunity(self, opportunity_id: str) -> CrmOpportunity:
        """The Opportunity with its Account, line items and contact roles."""
        opp_id = salesforce_id(opportunity_id, "opportunity id")
        opp = self._call("GET", f"{self._api}/sobjects/Opportunity/{opp_id}")
        account_id = salesforce_id(opp.get("AccountId"), f"opportunity {opp_id}: AccountId")
        account = self._call("GET", f"{self._api}/sobjects/Account/{account_id}")
        lines = self._line_items(opp_id)
        roles = self.query(CONTACT_ROLE_SOQL.format(id=soql_literal(opp_id)))
        return self._opportunity(opp_id, opp, account, lines, roles)

    def fetch_deal_state(self, opportunity_id: str) -> DealState:
        """Whether Salesforce has the Opportunity won now, and since when:
        ``GET .../sobjects/Opportunity/{id}?fields=StageName,IsWon,CloseDate,LastModifiedDate,SystemModstamp``.
        Raises ``NotFound`` for an unknown opportunity."""
        opp_id = salesforce_id(opportunity_id, "opportunity id")
        opp = self._call(
            "GET", f"{self._api}/sobjects/Opportunity/{opp_id}", query={"fields": ",".join(STATE_FIELDS)}
        )
        if not isinstance(opp, dict):
            raise InvalidRecord(f"opportunity {opp_id}: unexpected response shape")
        close_date = v.day(opp.get("CloseDate"), "Opportunity.CloseDate")
        won_at = (
            _instant(opp.get("LastModifiedDate"))
            or _instant(opp.get("SystemModstamp"))
            or (
                datetime(close_date.year, close_date.month, close_date.day, tzinfo=UTC)
                if close_date
                else None
            )
        )
        return DealState(
            stage=v.text(opp.get("StageName")) or "", is_won=opp.get("IsWon") is True, won_at=won_at
        )

    def update_opportunity(self, opportunity_id: str, fields: Mapping[str, object]) -> None:
        """Write fields back on the Opportunity (e.g. a custom ERP order number field)."""
        opp_id = salesforce_id(opportunity_id, "opportunity id")
        try:
            self._call("PATCH", f"{self._api}/sobjects/Opportunity/{opp_id}", json=dict(fields))
        except PermanentError as exc:
            missing = _unknown_fields(exc)
            if not missing:
                raise
            raise UnknownFields(
                f"Salesforce has no Opportunity fields {', '.join(missing)} (deploy them: o2c setup crm)",
                fields=missing,
                status=exc.status,
                code=exc.code,
            ) from exc

    def write_payment_status(self, opportunity_id: str, status: str) -> None:
        """The hub's payment status of the opportunity (its ``Payment_Status__c`` field: ``paid``, ``past_due``)."""
        self.update_opportunity(opportunity_id, {"Payment_Status__c": status})

    def create_task(
        self,
        opportunity_id: str,
        *,
        subject: str,
        body: str,
        due: datetime,
        owner_id: str | None,
        idempotency_key: str,
    ) -> str:
        """A Task on the opportunity (``WhatId``) for its owner, upserted on ``O2C_Idempotency_Key__c``: one
        Task per ``idempotency_key`` however often this is retried."""
        opp_id = salesforce_id(opportunity_id, "opportunity id")
        fields: dict[str, object] = {
            "Subject": subject[:255],
            "Description": body,
            "WhatId": opp_id,
            "ActivityDate": due.date().isoformat(),
            "Priority": "High",
            "Status": "Not Started",
        }
        if owner_id:
            fields["OwnerId"] = owner_id
        key = quote(idempotency_key, safe="")
        try:
            answer = self._call(
                "PATCH", f"{self._api}/sobjects/Task/{TASK_IDEMPOTENCY_FIELD}/{key}", json=fields
            )
        except NotFound as exc:  # the external id field is not deployed
            raise UnknownFields(
                f"Salesforce has no Task external id field {TASK_IDEMPOTENCY_FIELD} (deploy it: o2c setup crm)",
                fields=(f"Activity.{TASK_IDEMPOTENCY_FIELD}",),
                status=exc.status,
                code=exc.code,
            ) from exc
        return str(answer["id"])

    # --- line items: recurring fields only when the org has them ---------------------------------------

    def _line_items(self, opp_id: str) -> list[dict[str, Any]]:
        """The opportunity's line items, with the recurring-billing custom fields when the org has them.

        A SOQL naming a field the org lacks is refused whole (400 ``INVALID_FIELD``), and an org need not
        have run ``o2c setup crm`` (it then sells services only, booked as always). So the SELECT list names
        only the fields the org's ``OpportunityLineItem`` describe lists: read once per process (cold start)
        when they are there, again after ``RECHECK_MISSING_FIELDS_S`` while they are not, and at once when a
        query is refused for one of them (deleted since). ``FIELDS(CUSTOM)`` would avoid the describe but
        Salesforce takes it only with ``LIMIT`` 200 or less (a deal may have more lines, and there is no
        ``nextRecordsUrl`` past the limit) and it would read every custom field of the customer's org."""
        present = self._recurring_fields()
        try:
            return self.query(self._line_item_soql(opp_id, present))
        except PermanentError as exc:
            if not set(_unknown_fields(exc)) & set(present):
                raise
            with self._lock:
                self._line_fields = None
            return self.query(self._line_item_soql(opp_id, self._recurring_fields()))

    @staticmethod
    def _line_item_soql(opp_id: str, fields: tuple[str, ...]) -> str:
        recurring = "".join(f", {name}" for name in fields)
        return LINE_ITEM_SOQL.format(recurring=recurring, id=soql_literal(opp_id))

    def _recurring_fields(self) -> tuple[str, ...]:
        with self._lock:
            known = self._line_fields
        if known is not None:
            fields, read_at = known
            if fields or self._clock() - read_at < RECHECK_MISSING_FIELDS_S:
                return fields
        names = {str(f.get("name")) for f in self.describe("OpportunityLineItem").get("fields") or []}
        # the frequency makes a line recurring: without it the term alone means nothing
        fields = tuple(n for n in RECURRING_FIELDS if n in names) if BILLING_FREQUENCY_FIELD in names else ()
        with self._lock:
            self._line_fields = (fields, self._clock())
        return fields

    # --- metadata (o2c setup crm) --------------------------------------------------------------------

    def describe(self, sobject: str) -> dict[str, Any]:
        """``GET /sobjects/{sobject}/describe``."""
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", sobject):
            raise ValueError(f"{sobject!r} is not an sObject name")
        return dict(self._call("GET", f"{self._api}/sobjects/{sobject}/describe") or {})

    def create_custom_field(self, full_name: str, metadata: Mapping[str, Any]) -> str:
        """Deploy a custom field through the Tooling API (``POST /tooling/sobjects/CustomField``)."""
        answer = self._call(
            "POST",
            f"{self._api}/tooling/sobjects/CustomField",
            json={"FullName": full_name, "Metadata": dict(metadata)},
            max_attempts=1,
        )
        return str((answer or {}).get("id", ""))

    def query(self, soql: str) -> list[dict[str, Any]]:
        """All records of a SOQL query, following ``nextRecordsUrl``."""
        answer = self._call("GET", f"{self._api}/query", query={"q": soql})
        records: list[dict[str, Any]] = list(answer.get("records") or [])
        while not answer.get("done", True) and answer.get("nextRecordsUrl"):
            next_url = str(answer["nextRecordsUrl"])
            if not next_url.startswith("/services/data/"):
                raise PermanentError("unexpected nextRecordsUrl from Salesforce")
            answer = self._call("GET", next_url)
            records.extend(answer.get("records") or [])
        return records

    # --- token and calls -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        token = self._current_token()
        try:
            return self._http_for(token).request(method, path, **kwargs)
        except AuthError as exc:
            if exc.status != 401:
                raise
            self._forget(token)  # expired or revoked session: one new token, one more try
            token = self._current_token()
            return self._http_for(token).request(method, path, **kwargs)

    def _current_token(self) -> _Token:
        with self._lock:
            if self._token is None:
                self._token = self._fetch_token()
            return self._token

    def _forget(self, token: _Token) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch_token(self) -> _Token:
        try:
            answer = self._login_http.request(
                "POST",
                "/services/oauth2/token",
                form={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret(),
                },
            )
        except PermanentError as exc:  # 400 invalid_client / invalid_grant, 401, 403 ...
            raise AuthError(
                f"Salesforce refused the client credentials: {exc}",
                status=exc.status,
                code=exc.code,
                detail=exc.detail,
            ) from None
        access_token = (answer or {}).get("access_token")
        instance_url = (answer or {}).get("instance_url")
        if (
            not access_token
            or not instance_url
            or urlsplit(str(instance_url)).scheme not in ("http", "https")
        ):
            raise AuthError("Salesforce token response without access_token/instance_url")
        return _Token(str(access_token), str(instance_url).rstrip("/"))

    def _http_for(self, token: _Token) -> JsonHttp:
        with self._lock:
            http = self._data_http.get(token.instance_url)
            if http is None:
                http = self._factory(token.instance_url, self._bearer)
                self._data_http[token.instance_url] = http
            return http

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._current_token().access_token}"}

    # --- mapping -------------------------------------------------------------------------------------

    def _opportunity(
        self,
        opp_id: str,
        opp: Mapping[str, Any],
        account: Mapping[str, Any],
        lines: list[dict[str, Any]],
        roles: list[dict[str, Any]],
    ) -> CrmOpportunity:
        account_currency = v.currency(account.get("CurrencyIsoCode"), "Account.CurrencyIsoCode")
        currency = v.currency(opp.get("CurrencyIsoCode"), "Opportunity.CurrencyIsoCode")
        currency = currency or account_currency or self._default_currency
        if currency is None:
            raise InvalidRecord(f"opportunity {opp_id}: no currency (Opportunity, Account, default)")
        try:
            line_items = tuple(_line_item(line, currency) for line in lines)
            amount = v.decimal(opp.get("Amount"), "Opportunity.Amount")
            if amount is not None:
                total = v.money(amount, currency, "Opportunity.Amount")
            elif line_items:
                total = sum((li.amount for li in line_items[1:]), line_items[0].amount)
            else:
                raise InvalidRecord(f"opportunity {opp_id}: no Amount and no line items")
            ordered_roles = sorted(roles, key=lambda r: 0 if r.get("IsPrimary") is True else 1)
            return CrmOpportunity(
                crmSystem="salesforce",
                opportunityId=opp_id,
                name=v.text(opp.get("Name")) or opp_id,
                stage=v.text(opp.get("StageName")) or "",
                closeDate=v.day(opp.get("CloseDate"), "Opportunity.CloseDate"),
                ownerId=v.text(opp.get("OwnerId")),
                amount=total,
                account=Account(
                    accountId=str(account.get("Id")),
                    name=v.text(account.get("Name")) or str(account.get("Id")),
                    billingAddress=Address(
                        street=v.text(account.get("BillingStreet")),
                        city=v.text(account.get("BillingCity")),
                        state=v.text(account.get("BillingStateCode")) or v.text(account.get("BillingState")),
                        postalCode=v.text(account.get("BillingPostalCode")),
                        country=v.text(account.get("BillingCountryCode"))
                        or v.text(account.get("BillingCountry")),
                    ),
                    currency=account_currency or currency,
                    taxId=v.text(account.get(self._tax_id_field)),
                    domain=_domain(account.get("Website")),
                    region=v.text(account.get(self._region_field)),
                ),
                contacts=tuple(_contact(role) for role in ordered_roles if role.get("ContactId")),
                lines=line_items,
            )
        except InvalidRecord:
            raise
        except ValueError as exc:  # pydantic's ValidationError included
            raise InvalidRecord(f"opportunity {opp_id}: {exc}") from None


def _unknown_fields(exc: PermanentError) -> tuple[str, ...]:
    """Fields Salesforce reports as ``INVALID_FIELD`` ("No such column 'X' on sobject of type Y")."""
    if exc.status != 400:
        return ()
    names: list[str] = []
    for entry in exc.vendor_errors:
        if entry.get("errorCode") != "INVALID_FIELD":
            continue
        found = _NO_SUCH_COLUMN.findall(str(entry.get("message") or "")) or [
            str(f)
            for f in entry.get("fields") or []  # type: ignore[attr-defined]
        ]
        names.extend(n for n in found if n not in names)
    return tuple(names)


def _instant(value: object) -> datetime | None:
    """A Salesforce REST datetime (``2026-11-27T10:15:00.000+0000``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _contact(role: Mapping[str, Any]) -> Contact:
    person = role.get("Contact") or {}
    return Contact(
        contactId=str(role.get("ContactId")),
        email=v.text(person.get("Email")),
        firstName=v.text(person.get("FirstName")),
        lastName=v.text(person.get("LastName")),
        role=v.text(role.get("Role")),
    )


def _line_item(line: Mapping[str, Any], currency: str) -> LineItem:
    line_id = str(line.get("Id"))
    field = f"OpportunityLineItem {line_id}"
    quantity, unit_price, amount = v.priced_line(
        line.get("Quantity"),
        line.get("UnitPrice"),
        line.get("TotalPrice"),
        currency,
        fields=(f"{field}.Quantity", f"{field}.UnitPrice", f"{field}.TotalPrice"),
    )
    return LineItem(
        lineItemId=line_id,
        productId=v.text(line.get("Product2Id")),
        sku=v.text(line.get("ProductCode")),
        name=v.text(line.get("Name")) or line_id,
        quantity=quantity,
        unitPrice=unit_price,
        amount=amount,
        recurring=_recurring(line, field),
    )


#: ``O2C_Billing_Frequency__c`` picklist values (``vendor-specs/salesforce/o2c-custom-fields.json``) → Stripe's
#: (interval, interval_count). A value an admin adds to the picklist has no Stripe price here: refused.
FREQUENCIES = {
    "Monthly": ("month", 1),
    "Quarterly": ("month", 3),
    "Semiannually": ("month", 6),
    "Annually": ("year", 1),
    "Every 2 Years": ("year", 2),
    "Every 3 Years": ("year", 3),
}


def _recurring(line: Mapping[str, Any], field: str) -> Recurring | None:
    """A line with a billing frequency is recurring: its interval, its term in months and its start (the
    line's ``ServiceDate``). No frequency (or an org without the field): a one-time line."""
    billed = v.cadence(line.get(BILLING_FREQUENCY_FIELD), FREQUENCIES, f"{field}.{BILLING_FREQUENCY_FIELD}")
    if billed is None:
        return None
    interval, count = billed
    term = v.decimal(line.get(BILLING_TERM_FIELD), f"{field}.{BILLING_TERM_FIELD}")
    if term is not None and (term != term.to_integral_value() or term < 1):
        raise InvalidRecord(f"{field}.{BILLING_TERM_FIELD}: {term} is not a term in whole months")
    return Recurring(
        interval=interval,  # type: ignore[arg-type]
        intervalCount=count,
        startDate=v.day(line.get("ServiceDate"), f"{field}.ServiceDate"),
        termMonths=int(term) if term is not None else None,
    )


def _domain(website: object) -> str | None:
    """'https://www.acme.de/en' → 'acme.de' (HubSpot's company ``domain`` has the same form)."""
    text = v.text(website)
    if text is None:
        return None
    host = urlsplit(text if "//" in text else f"//{text}").hostname
    if not host:
        return None
    return host.removeprefix("www.")
