"""The /v1 API: one Powertools REST resolver with validation; routes are thin, the work is in ``services``.

Every response carries ``X-Request-Id`` (API Gateway's request id) and ``X-Correlation-Id`` (the caller's,
if it sent a valid one, else a new one; for an order, the id its events carry); every error is
``application/problem+json`` (``shared.api.problems``); every POST needs an ``Idempotency-Key``
(``shared.api.idempotency_keys``). Authentication and scopes are API Gateway's (a Cognito authorizer, or IAM);
the function only reads who the caller is, for scoping idempotency keys, and refuses a request with no
caller at all (defence in depth: the gateway never sends one)."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import (
    APIKey,
    OAuth2,
    OAuthFlowClientCredentials,
    OAuthFlows,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from shared.api.deprecation import DEPRECATIONS, Deprecation, by_route
from shared.api.idempotency_keys import KEY_PATTERN, IdempotentPosts
from shared.api.problems import KINDS, PROBLEM_CONTENT_TYPE, Problem
from shared.api.resources import (
    Accepted,
    CustomerView,
    CustomerWriteIn,
    Id,
    InvoiceView,
    OrderIn,
    OrderView,
    PaymentView,
    RefundIn,
    RefundView,
)
from shared.errors import TransientError
from shared.sensitive import contains_card_number

if TYPE_CHECKING:
    from shared.api.services import HubServices

E = TypeVar("E", bound=Exception)

API_TITLE = "O2C Hub API"
API_VERSION = "1.0.0"
#: the scopes of the resource server (infra/topology.py API_SCOPES names the same)
READ, ORDERS_WRITE, REFUNDS_WRITE = "o2c/read", "o2c/orders:write", "o2c/refunds:write"
CUSTOMERS_WRITE = "o2c/customers:write"
OAUTH = "oauth2"
#: the caller's usage-plan key (``x-api-key``): identifies its client for throttling; the token authorizes
API_KEY = "apiKey"
#: a caller's X-Correlation-Id: what the webhooks accept back from Stripe's metadata (shared.ingress.guard)
_CORRELATION = re.compile(r"^[\x21-\x7e]{1,255}$")

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Required on every POST; scoped to the caller; kept 24 hours",
    ),
]


def _secured(scope: str) -> list[dict[str, list[str]]]:
    """A token with ``scope`` and the client's usage-plan key, both required (one security requirement)."""
    return [{OAUTH: [scope], API_KEY: []}]


def _problem_responses(*statuses: int) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for status in statuses:
        kinds = ", ".join(k for k, (_, s, _) in KINDS.items() if s == status)
        out[status] = {"description": f"problem+json: {kinds}", "content": {PROBLEM_CONTENT_TYPE: {}}}
    return out


_READ_ERRORS = _problem_responses(401, 403, 404, 422, 429, 503)
_WRITE_ERRORS = _problem_responses(401, 403, 409, 422, 429, 503)


def _ok(model: type) -> dict[int, Any]:
    return {200: {"description": "OK", "content": {"application/json": {"model": model}}}}


def _accepted() -> dict[int, Any]:
    return {
        202: {
            "description": "Accepted; Location names the resource to follow. A replay has Idempotent-Replayed: true",
            "content": {"application/json": {"model": Accepted}},
        }
    }


def stable_id(prefix: str, caller: str, key: str) -> str:
    """The id a POST gives what it creates, from who asked and their key: a retry after an unknown
    outcome names the same order or refund (and Stripe's idempotency key is derived from it)."""
    digest = hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()
    return f"{prefix}_{digest[:24]}"


def build(
    services: Callable[[], HubServices],
    idempotency: Callable[[], IdempotentPosts],
    *,
    stage: str,
    deprecations: Mapping[str, Deprecation] = DEPRECATIONS,
) -> APIGatewayRestResolver:
    """The resolver; ``services()`` gives the hub's operations (``shared.api.services.HubServices``);
    ``deprecations`` the operations deprecated (``shared.api.deprecation``)."""
    app = APIGatewayRestResolver(enable_validation=True)
    if stage != "prod":
        app.enable_swagger(path="/v1/docs", title=API_TITLE, version=API_VERSION)

    def caller() -> str:
        ctx = app.current_event.raw_event.get("requestContext") or {}
        claims = (ctx.get("authorizer") or {}).get("claims") or {}
        who = claims.get("client_id") or claims.get("sub")
        if not who:
            identity = ctx.get("identity") or {}
            who = identity.get("userArn") or identity.get("caller")
        if not who:
            raise Problem("unauthorized", "no authenticated caller")
        return str(who)

    def callers_correlation() -> str | None:
        """The caller's valid ``X-Correlation-Id``: the events its POST causes carry it."""
        given = app.context.get("correlation_given")
        return str(app.context.get("correlation_id")) if given else None

    def post(route: str, body_json: Any, key: str, work: Callable[[str], dict[str, Any]]) -> Response[Any]:
        who = caller()
        request = {"caller": who, "route": route, "key": key, "body": body_json}

        def once(request: dict[str, Any]) -> dict[str, Any]:
            return work(who)

        try:
            result = idempotency().run(once, request)
        except IdempotencyValidationError:
            raise Problem(
                "idempotency-key-reused", f"Idempotency-Key {key!r} was used with another body on {route}"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise Problem(
                "conflict", f"the first request with Idempotency-Key {key!r} is still running; retry later"
            ) from None
        headers = dict(result.get("headers") or {})
        if result.get("replayed"):
            headers["Idempotent-Replayed"] = "true"
        return Response(
            status_code=int(result["status"]),
            content_type="application/json",
            body=result["body"],
            headers=headers,
        )

    # --- customers ---------------------------------------------------------------------------------------

    @app.post(
        "/v1/customers",
        summary="Create or update a customer: the ERP customer api-<externalId> and its Stripe customer",
        responses={
            201: {
                "description": "The customer as the ERP and Stripe hold it; a replay has Idempotent-Replayed: true",
                "content": {"application/json": {"model": CustomerView}},
            },
            **_WRITE_ERRORS,
        },
        security=_secured(CUSTOMERS_WRITE),
        tags=["customers"],
        operation_id="upsertCustomer",
        deprecated="upsertCustomer" in deprecations,
    )
    def upsert_customer(customer: CustomerWriteIn, idempotency_key: IdempotencyKey) -> Response[CustomerView]:
        def work(who: str) -> dict[str, Any]:
            view = services().upsert_customer(customer)
            return {
                "status": 201,
                "body": view.model_dump(mode="json"),
                "headers": {"Location": f"/v1/customers/{customer.externalId}"},
            }

        return post("POST /v1/customers", app.current_event.json_body, idempotency_key, work)

    @app.get(
        "/v1/customers/<id>",
        summary="The support view of a customer: its ids, open invoices, last payments, holds",
        responses={**_ok(CustomerView), **_READ_ERRORS},
        security=_secured(READ),
        tags=["customers"],
        operation_id="getCustomer",
        deprecated="getCustomer" in deprecations,
    )
    def get_customer(id: Annotated[Id, Path()]) -> CustomerView:
        view = services().customer_view(id)
        if view is None:
            raise Problem("not-found", f"no customer {id!r} in the ERP")
        return view

    # --- orders ------------------------------------------------------------------------------------------

    @app.post(
        "/v1/orders",
        summary="Submit an order (quote-to-cash as for a won deal)",
        responses={**_accepted(), **_WRITE_ERRORS},
        security=_secured(ORDERS_WRITE),
        tags=["orders"],
        operation_id="submitOrder",
        deprecated="submitOrder" in deprecations,
    )
    def submit_order(order: OrderIn, idempotency_key: IdempotencyKey) -> Response[Accepted]:
        def work(who: str) -> dict[str, Any]:
            order_id = stable_id("ord", who, idempotency_key)
            name, correlation = services().start_order(order, order_id, callers_correlation())
            location = f"/v1/orders/{name}"
            body = Accepted(id=name, status="accepted", location=location, correlationId=correlation)
            return {
                "status": 202,
                "body": body.model_dump(mode="json"),
                "headers": {"Location": location, "X-Correlation-Id": correlation},
            }

        return post("POST /v1/orders", app.current_event.json_body, idempotency_key, work)

    @app.get(
        "/v1/orders/<id>",
        summary="Where an order stands",
        responses={**_ok(OrderView), **_READ_ERRORS},
        security=_secured(READ),
        tags=["orders"],
        operation_id="getOrder",
        deprecated="getOrder" in deprecations,
    )
    def get_order(id: Annotated[Id, Path()]) -> OrderView:
        view = services().order_view(id)
        if view is None:
            raise Problem("not-found", f"no order found for {id!r}")
        return view

    # --- payments, invoices --------------------------------------------------------------------------------

    @app.get(
        "/v1/payments/<id>",
        summary="A payment as Stripe and the ERP see it (by payment intent, charge or ERP payment id)",
        responses={**_ok(PaymentView), **_READ_ERRORS},
        security=_secured(READ),
        tags=["payments"],
        operation_id="getPayment",
        deprecated="getPayment" in deprecations,
    )
    def get_payment(id: Annotated[Id, Path()]) -> PaymentView:
        view = services().payment_view(id)
        if view is None:
            raise Problem("not-found", f"no payment known to the hub for {id!r}")
        return view

    @app.get(
        "/v1/invoices/<id>",
        summary="An ERP invoice with its payment status and the payments applied to it",
        responses={**_ok(InvoiceView), **_READ_ERRORS},
        security=_secured(READ),
        tags=["invoices"],
        operation_id="getInvoice",
        deprecated="getInvoice" in deprecations,
    )
    def get_invoice(id: Annotated[Id, Path()]) -> InvoiceView:
        view = services().invoice_view(id)
        if view is None:
            raise Problem("not-found", f"no invoice known to the hub for {id!r}")
        return view

    # --- refunds -------------------------------------------------------------------------------------------

    @app.post(
        "/v1/refunds",
        summary="Refund (part of) a captured payment; booked in the ERP once Stripe confirms",
        responses={**_accepted(), **_WRITE_ERRORS},
        security=_secured(REFUNDS_WRITE),
        tags=["refunds"],
        operation_id="requestRefund",
        deprecated="requestRefund" in deprecations,
    )
    def request_refund(refund: RefundIn, idempotency_key: IdempotencyKey) -> Response[Accepted]:
        def work(who: str) -> dict[str, Any]:
            request_id = stable_id("rr", who, idempotency_key)
            correlation = services().request_refund(
                refund, request_id, by=f"api:{who}", correlation_id=callers_correlation()
            )
            location = f"/v1/refunds/{request_id}"
            body = Accepted(id=request_id, status="requested", location=location, correlationId=correlation)
            return {
                "status": 202,
                "body": body.model_dump(mode="json"),
                "headers": {"Location": location, "X-Correlation-Id": correlation},
            }

        return post("POST /v1/refunds", app.current_event.json_body, idempotency_key, work)

    @app.get(
        "/v1/refunds/<id>",
        summary="Where a refund asked of the hub stands",
        responses={**_ok(RefundView), **_READ_ERRORS},
        security=_secured(READ),
        tags=["refunds"],
        operation_id="getRefund",
        deprecated="getRefund" in deprecations,
    )
    def get_refund(id: Annotated[Id, Path()]) -> RefundView:
        view = services().refund_view(id)
        if view is None:
            raise Problem("not-found", f"no refund request {id!r}")
        return view

    # --- errors --------------------------------------------------------------------------------------------

    def handles(
        exc_class: type[E],
    ) -> Callable[[Callable[[E], Response[Any]]], Callable[[E], Response[Any]]]:
        """``app.exception_handler`` (Powertools leaves its decorator untyped), keeping the handler's type."""

        def register(handler: Callable[[E], Response[Any]]) -> Callable[[E], Response[Any]]:
            app.exception_handler(exc_class)(handler)
            return handler

        return register

    def problem_response(problem: Problem) -> Response[Any]:
        return Response(
            status_code=problem.status,
            content_type=PROBLEM_CONTENT_TYPE,
            body=problem.json(instance=app.current_event.path),
            headers={**problem.headers, **deprecation_headers()},
        )

    @handles(Problem)
    def on_problem(exc: Problem) -> Response[Any]:
        return problem_response(exc)

    @handles(RequestValidationError)
    def on_invalid(exc: RequestValidationError) -> Response[Any]:
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return problem_response(Problem("validation", detail or "invalid request", {"errors": errors}))

    @handles(UnicodeDecodeError)
    def on_undecodable(exc: UnicodeDecodeError) -> Response[Any]:
        # a body that is not UTF-8 (API Gateway passes it base64-encoded) cannot be JSON
        return problem_response(Problem("validation", "the request body is not UTF-8 encoded JSON"))

    @handles(ResponseValidationError)
    def on_bad_response(exc: ResponseValidationError) -> Response[Any]:
        return problem_response(Problem("technical-failure", "the hub could not form its answer"))

    @handles(TransientError)
    def on_transient(exc: TransientError) -> Response[Any]:
        # a vendor or AWS did not answer in time: the caller may retry (with the same Idempotency-Key)
        return problem_response(
            Problem(
                "technical-failure",
                f"a system the hub depends on failed: {exc}",
                headers={"Retry-After": "5"},
            )
        )

    @app.not_found
    def on_not_found(exc: Exception) -> Response[Any]:
        return problem_response(
            Problem("not-found", f"no route {app.current_event.http_method} {app.current_event.path}")
        )

    # --- deprecations: every answer of a deprecated operation, success or problem, says so ---------------------

    notices = (
        by_route(app.get_openapi_schema(security_schemes=security_schemes()), deprecations)
        if deprecations
        else {}
    )

    def deprecation_headers() -> dict[str, str]:
        event = app.current_event
        notice = notices.get((event.http_method, event.resource))
        return notice.headers() if notice is not None else {}

    def announce_deprecation(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        response = next_middleware(app)
        response.headers.update(deprecation_headers())
        return response

    if notices:
        app.use(middlewares=[announce_deprecation])
    return app


def security_schemes(
    token_url: str = "https://<domain>.auth.<region>.amazoncognito.com/oauth2/token",  # noqa: S107 a URL
) -> dict[str, Any]:
    scopes = {
        READ: "read customers, orders, payments, invoices, refunds",
        CUSTOMERS_WRITE: "create or update customers",
        ORDERS_WRITE: "submit orders",
        REFUNDS_WRITE: "start refunds",
    }
    return {
        OAUTH: OAuth2(
            flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=token_url, scopes=scopes)),
            description="OAuth 2.0 client credentials (Cognito); locally the local cloud's /oauth2/token",
        ),
        API_KEY: APIKey.model_validate(
            {
                "type": "apiKey",
                "in": "header",
                "name": "x-api-key",
                "description": (
                    "The client's usage-plan key, issued with its client credentials: every request is "
                    "throttled per key (429 rate-limited with Retry-After); a missing or unknown key is 403"
                ),
            }
        ),
    }


def openapi_json(app: APIGatewayRestResolver) -> str:
    """The committed document (``api/openapi.json``): OpenAPI 3.1, from the resolver's routes and models."""
    return app.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        description="Governed APIs of the O2C Hub: orders, payments, invoices and refunds under /v1.",
        security_schemes=security_schemes(),
    )


def valid_correlation_id(value: Any) -> bool:
    """1-255 printable ASCII without spaces, and no payment card number in it (it is stored under every
    event of the flow and written in Stripe's metadata, which the webhooks check the same way)."""
    return isinstance(value, str) and bool(_CORRELATION.match(value)) and not contains_card_number(value)


def request_headers(event: dict[str, Any]) -> tuple[str, str, bool]:
    """(request id, correlation id, whether the caller gave it) of an API Gateway event: the gateway's
    request id, the caller's valid ``X-Correlation-Id`` or a new one."""
    ctx = event.get("requestContext") or {}
    request_id = str(ctx.get("requestId") or uuid.uuid4())
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    given = headers.get("x-correlation-id")
    if valid_correlation_id(given):
        return request_id, str(given), True
    return request_id, f"api:{uuid.uuid4()}", False


def _not_json(event: dict[str, Any]) -> dict[str, Any] | None:
    """A 422 for a body sent as anything but JSON (the API takes JSON only; Powertools would parse a form or
    multipart body itself, and crash on a multipart type without its boundary), else None."""
    if not event.get("body"):
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    media_type = str(headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if media_type == "application/json":
        return None
    problem = Problem("validation", f"the request body must be application/json, not {media_type[:100]!r}")
    return {
        "statusCode": problem.status,
        "headers": {"Content-Type": PROBLEM_CONTENT_TYPE},
        "body": problem.json(instance=str(event.get("path") or "")),
        "isBase64Encoded": False,
    }


def handle(app: APIGatewayRestResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Resolve one API Gateway event; every response gets the request and correlation id headers (an order's
    POST answers with the correlation id its events carry)."""
    request_id, correlation, given = request_headers(event)
    refused = _not_json(event)
    if refused is not None:
        result = refused
    else:
        app.context.update(correlation_id=correlation, correlation_given=given, request_id=request_id)
        try:
            result = app.resolve(event, context)
        finally:
            app.context.clear()
    headers = result.setdefault("headers", {}) or {}
    multi = result.get("multiValueHeaders") or {}
    for name, value in (("X-Request-Id", request_id), ("X-Correlation-Id", correlation)):
        if name not in headers and name not in multi:
            headers[name] = value
    result["headers"] = headers
    return result
