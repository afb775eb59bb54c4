"""Bank debits: SEPA Direct Debit (``sepa_debit``, EUR) and ACH Direct Debit (``us_bank_account``, USD),
saved with a mandate and charged days later, on a clock the control API advances.

What Stripe documents and the sandbox does (docs.stripe.com/payments/sepa-debit, .../ach-direct-debit,
"Test your integration" sections; the shapes from ``stripe-contract.json``):

- **Saving** (``POST /v1/setup_intents/{id}/confirm`` with ``payment_method_data[type]`` ``sepa_debit``
  (``[sepa_debit][iban]``) or ``us_bank_account`` (``[us_bank_account][routing_number]``,
  ``[account_number]``, ``[account_holder_type]``), ``payment_method_data[billing_details]`` and
  ``mandate_data[customer_acceptance]``): the type must be one the SetupIntent allows
  (``allowed_payment_method_types``); SEPA needs the account holder's name and email, ACH the name; the
  customer's acceptance of the mandate is required (``online`` with ``ip_address`` and ``user_agent``, or
  ``offline``), else 400 ``setup_intent_mandate_invalid``. Success mints the PaymentMethod
  (``sepa_debit``/``us_bank_account`` details: last4, bank code / routing number, fingerprint, never the
  full number) and a multi-use Mandate (``mandate_...``), named by the SetupIntent's ``mandate``. ACH
  accounts are taken as instantly verified (Stripe's test routing number ``110000000`` stands in for a
  Financial Connections verification; micro-deposits are not served).
- **Charging** (``POST /v1/payment_intents`` with such a PaymentMethod): these methods cannot be authorized
  and captured separately: ``capture_method=manual`` is refused (400 on ``capture_method``); the currency
  must be the method's (EUR for SEPA, USD for ACH); the type must be in ``allowed_payment_method_types``;
  an off-session charge needs the PaymentMethod's active mandate (or ``mandate``), else 400
  ``payment_intent_mandate_invalid``. Confirmed, the PaymentIntent is ``processing`` (its Charge
  ``pending``), and ``payment_intent.processing`` is sent.
- **The outcome, days later**: SEPA typically 5 business days, ACH 4 (here 5 and 4 days on the sandbox's
  clock). ``advance_clock(seconds)`` (control API) moves the clock and settles every debit that came due:
  ``succeeded`` (the Charge captured and booked in the balance, ``payment_intent.succeeded``) or, for
  Stripe's failing test accounts, ``requires_payment_method`` with the Charge ``failed`` (its
  ``failure_code``) and ``last_payment_error``, and ``payment_intent.payment_failed``.

Stripe's test accounts (others with a valid checksum/routing number succeed):
SEPA ``DE89370400440532013000`` succeeds, ``DE62370400440532013001`` fails (``insufficient_funds``);
ACH (routing ``110000000``) ``000123456789`` succeeds, ``000111111113`` fails (``account_closed``),
``000111111116`` (``no_account``), ``000222222227`` (``insufficient_funds``), ``000333333335``
(``debit_not_authorized``).

A returned debit after success is a dispute on Stripe (support.stripe.com, "Respond to or contest an ACH
Direct Debit dispute": "Stripe might receive an ACH failure from the bank after a payment has succeeded. If
this happens, Stripe creates a dispute"; bank-debit disputes are final): see ``disputes``.
"""

from __future__ import annotations

import copy
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

from localcloud.sandboxes.stripe.errors import _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _opt_str
from localcloud.sandboxes.stripe.state import StripeState, _Call

DEBIT_TYPES = ("sepa_debit", "us_bank_account")
#: The currency each debit method charges in.
DEBIT_CURRENCY = {"sepa_debit": "eur", "us_bank_account": "usd"}
#: From confirmation to the outcome on the sandbox's clock (Stripe: SEPA typically 5 business days, ACH 4).
SETTLEMENT_S = {"sepa_debit": 5 * 86400, "us_bank_account": 4 * 86400}
ACH_TEST_ROUTING = "110000000"


@dataclass(frozen=True)
class SandboxBank:
    """What a bank account does when debited: ``failure_code`` None succeeds."""

    failure_code: str | None = None
    failure_message: str | None = None


#: Stripe's test IBANs and ACH test account numbers that fail after ``processing``.
FAILING_ACCOUNTS: dict[str, SandboxBank] = {
    "DE62370400440532013001": SandboxBank(
        "insufficient_funds", "The customer's account has insufficient funds to cover this payment."
    ),
    "000111111113": SandboxBank("account_closed", "The customer's bank account has been closed."),
    "000111111116": SandboxBank("no_account", "The customer's bank account could not be located."),
    "000222222227": SandboxBank(
        "insufficient_funds", "The customer's account has insufficient funds to cover this payment."
    ),
    "000333333335": SandboxBank(
        "debit_not_authorized", "The customer has notified their bank that this payment was unauthorized."
    ),
}

_MANDATE_MISSING = (
    "This {what} requires a mandate, but no existing mandate was found. Collect mandate acceptance from the "
    "customer and try again, providing acceptance data in the mandate_data parameter."
)


def _iban_valid(iban: str) -> bool:
    """ISO 13616: two letters, two check digits, up to 30 alphanumerics; mod 97 of the rearranged number is 1."""
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        return False
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def _fingerprint(number: str) -> str:
    return hashlib.sha256(number.encode()).hexdigest()[:16]


class DebitsMixin(StripeState):
    # --- the clock ---------------------------------------------------------------------------------

    def now(self) -> float:
        """The sandbox's clock: real time plus what ``advance_clock`` added."""
        return time.time() + float(getattr(self, "_clock_offset", 0.0))

    def advance_clock(self, seconds: float) -> list[str]:
        """Move the sandbox's clock ``seconds`` ahead and settle every debit that came due (oldest first).
        Returns the PaymentIntents settled."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._clock_offset = float(getattr(self, "_clock_offset", 0.0)) + seconds
            now = self.now()
            due = [pi for pi, at in sorted(self._debits_due().items(), key=lambda kv: kv[1]) if at <= now]
            for pi_id in due:
                self._settle_debit(pi_id)
            return due

    def _debits_due(self) -> dict[str, float]:
        if not hasattr(self, "_processing_debits"):
            self._processing_debits: dict[str, float] = {}
        return self._processing_debits

    def _bank_methods(self) -> dict[str, tuple[dict[str, Any], str]]:
        """pm_ -> (the PaymentMethod, its account number or IBAN, kept only to pick the test outcome)."""
        if not hasattr(self, "_bank_pms"):
            self._bank_pms: dict[str, tuple[dict[str, Any], str]] = {}
        return self._bank_pms

    def _mandate_store(self) -> dict[str, dict[str, Any]]:
        if not hasattr(self, "_mandates"):
            self._mandates: dict[str, dict[str, Any]] = {}
        return self._mandates

    def is_bank_method(self, payment_method: str | None) -> bool:
        return payment_method is not None and payment_method in self._bank_methods()

    def bank_method(self, payment_method: str) -> dict[str, Any]:
        return self._bank_methods()[payment_method][0]

    def mandates(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._mandate_store().values()))

    # --- saving with a mandate -----------------------------------------------------------------------

    def _save_bank_account(self, seti: dict[str, Any], params: dict[str, Any], call: _Call) -> None:
        """Confirm ``seti`` with ``payment_method_data`` of a bank debit type and ``mandate_data``."""
        data = params.get("payment_method_data") or {}
        kind = _opt_str(data, "type")
        allowed = seti.get("payment_method_types") or ["card"]
        if kind not in allowed:
            raise _invalid(
                f"The payment method type provided: {kind} is invalid. This SetupIntent accepts: "
                f"{', '.join(allowed)}.",
                param="payment_method_data[type]",
                code="payment_intent_incompatible_payment_method",
            )
        if kind not in DEBIT_TYPES:
            raise _invalid(
                f"The Stripe sandbox saves {kind} only through payment_method (a test card); it serves "
                "payment_method_data for sepa_debit and us_bank_account.",
                param="payment_method_data[type]",
            )
        billing = data.get("billing_details") or {}
        required = ("name", "email") if kind == "sepa_debit" else ("name",)
        for field in required:
            if not billing.get(field):
                raise _invalid(
                    f"Missing required param: payment_method_data[billing_details][{field}].",
                    param=f"payment_method_data[billing_details][{field}]",
                    code="parameter_missing",
                )
        details = data.get(kind) or {}
        if kind == "sepa_debit":
            number = re.sub(r"\s", "", str(details.get("iban") or "")).upper()
            if not _iban_valid(number):
                raise _invalid(
                    "The IBAN you provided is invalid.",
                    param="payment_method_data[sepa_debit][iban]",
                    code="payment_method_invalid_parameter",
                )
            pm_details: dict[str, Any] = {
                "bank_code": number[4:12],
                "branch_code": "",
                "country": number[:2],
                "fingerprint": _fingerprint(number),
                "generated_from": {"charge": None, "setup_attempt": None},
                "last4": number[-4:],
            }
        else:
            if details.get("financial_connections_account"):
                raise _invalid(
                    "The Stripe sandbox does not serve Financial Connections accounts; send routing_number "
                    "and account_number.",
                    param="payment_method_data[us_bank_account][financial_connections_account]",
                )
            for field in ("routing_number", "account_number"):
                if not details.get(field):
                    raise _invalid(
                        f"Missing required param: payment_method_data[us_bank_account][{field}].",
                        param=f"payment_method_data[us_bank_account][{field}]",
                        code="parameter_missing",
                    )
            number, routing = str(details["account_number"]), str(details["routing_number"])
            if not re.fullmatch(r"[0-9]{9}", routing):
                raise _invalid(
                    "Routing number must have 9 digits.",
                    param="payment_method_data[us_bank_account][routing_number]",
                    code="routing_number_invalid",
                )
            if routing != ACH_TEST_ROUTING:
                raise _invalid(
                    f"In test mode, use the test routing number {ACH_TEST_ROUTING}.",
                    param="payment_method_data[us_bank_account][routing_number]",
                    code="bank_account_bad_routing_numbers",
                )
            pm_details = {
                "account_holder_type": details.get("account_holder_type") or "company",
                "account_type": details.get("account_type") or "checking",
                "bank_name": "STRIPE TEST BANK",
                "financial_connections_account": None,
                "fingerprint": _fingerprint(number),
                "last4": number[-4:],
                "networks": {"preferred": "ach", "supported": ["ach"]},
                "routing_number": routing,
                "status_details": None,
            }
        acceptance = _acceptance(params.get("mandate_data"), what="SetupIntent")
        with self._lock:
            pm: dict[str, Any] = {
                "id": new_id("pm", 24),
                "object": "payment_method",
                "allow_redisplay": "unspecified",
                "billing_details": {
                    "address": billing.get("address"),
                    "email": billing.get("email"),
                    "name": billing.get("name"),
                    "phone": billing.get("phone"),
                },
                "created": int(self.now()),
                "customer": seti["customer"],
                "customer_account": None,
                "livemode": False,
                "metadata": {},
                "type": kind,
                kind: pm_details,
            }
            self._bank_methods()[pm["id"]] = (pm, number)
            mandate = {
                "id": new_id("mandate", 24),
                "object": "mandate",
                "customer_acceptance": acceptance,
                "livemode": False,
                "multi_use": {},
                "on_behalf_of": None,
                "payment_method": pm["id"],
                "payment_method_details": {kind: {}, "type": kind},
                "status": "active",
                "type": "multi_use",
            }
            self._mandate_store()[mandate["id"]] = mandate
            seti["mandate"] = mandate["id"]
            self._setup_succeeded(seti, pm, call)

    def _mandate_of(self, pm_id: str) -> str | None:
        for mandate in self._mandate_store().values():
            if mandate["payment_method"] == pm_id and mandate["status"] == "active":
                return str(mandate["id"])
        return None

    # --- charging ------------------------------------------------------------------------------------

    def _check_debit(self, pm: dict[str, Any], params: dict[str, Any], currency: str, capture: str) -> str:
        """Refuse what Stripe refuses for a bank debit PaymentIntent; returns the mandate it runs under."""
        kind = pm["type"]
        if capture == "manual":
            raise _invalid(
                f"The payment method type {kind} does not support capture_method=manual: a bank debit "
                "cannot be authorized and captured separately.",
                param="capture_method",
            )
        if currency != DEBIT_CURRENCY[kind]:
            raise _invalid(
                f"The currency provided ({currency}) is invalid. Payments with {kind} support the following "
                f"currencies: {DEBIT_CURRENCY[kind]}.",
                param="currency",
                code="payment_method_currency_mismatch",
            )
        allowed = params.get("allowed_payment_method_types") or ["card"]
        if kind not in allowed:
            raise _invalid(
                f"The PaymentMethod provided ({pm['id']}) has type {kind}, which is not in this "
                f"PaymentIntent's allowed_payment_method_types ({', '.join(allowed)}).",
                param="payment_method",
                code="payment_intent_incompatible_payment_method",
            )
        named = params.get("mandate")
        if named is not None:
            mandate = self._mandate_store().get(str(named))
            if mandate is None:
                raise _missing("mandate", str(named), param="mandate")
            if mandate["payment_method"] != pm["id"] or mandate["status"] != "active":
                raise _invalid(
                    f"The mandate {named} cannot be used with the PaymentMethod {pm['id']}.",
                    param="mandate",
                    code="payment_intent_mandate_invalid",
                )
            return str(named)
        if params.get("mandate_data"):
            raise _invalid(
                "The Stripe sandbox takes a bank debit's mandate from its SetupIntent; mandate_data on a "
                "PaymentIntent is not served.",
                param="mandate_data",
            )
        found = self._mandate_of(pm["id"])
        if found is None:
            raise _invalid(
                _MANDATE_MISSING.format(what="PaymentIntent"), code="payment_intent_mandate_invalid"
            )
        return found

    def _start_debit(self, pi: dict[str, Any], pm: dict[str, Any], mandate: str, call: _Call) -> None:
        """The debit is submitted: PaymentIntent ``processing``, Charge ``pending``, outcome due later."""
        kind = pm["type"]
        pi.update(
            payment_method=pm["id"],
            payment_method_types=[kind],
            payment_method_options={kind: _method_options(kind)},
            latest_charge=new_id("py" if kind == "sepa_debit" else "ch", 24),
            status="processing",
            processing=None,
        )
        charge = self._new_charge(pi, pm)
        details = pm[kind]
        debit_date = time.strftime("%Y-%m-%d", time.gmtime(self.now() + SETTLEMENT_S[kind]))
        if kind == "sepa_debit":
            method_details: dict[str, Any] = {
                "bank_code": details["bank_code"],
                "branch_code": details["branch_code"],
                "country": details["country"],
                "expected_debit_date": debit_date,
                "fingerprint": details["fingerprint"],
                "last4": details["last4"],
                "mandate": mandate,
            }
        else:
            method_details = {
                "account_holder_type": details["account_holder_type"],
                "account_type": details["account_type"],
                "bank_name": details["bank_name"],
                "expected_debit_date": debit_date,
                "fingerprint": details["fingerprint"],
                "last4": details["last4"],
                "mandate": mandate,
                "payment_reference": None,
                "routing_number": details["routing_number"],
            }
        charge.update(
            status="pending",
            paid=False,
            outcome={
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "not_assessed",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
            payment_method_details={kind: method_details, "type": kind},
        )
        self._debits_due()[pi["id"]] = self.now() + SETTLEMENT_S[kind]
        self._emit("payment_intent.processing", pi, call)

    def _settle_debit(self, pi_id: str) -> None:
        pi = self._payment_intents[pi_id]
        self._debits_due().pop(pi_id, None)
        if pi["status"] != "processing":
            return
        pm, number = self._bank_methods()[pi["payment_method"]]
        charge = self._charges[pi["latest_charge"]]
        bank = FAILING_ACCOUNTS.get(number, SandboxBank())
        if bank.failure_code is None:
            self._capture_charge(charge, pi["amount"])
            charge.update(status="succeeded", paid=True)
            pi.update(status="succeeded", amount_received=pi["amount"])
            self._emit("payment_intent.succeeded", pi, None)
            return
        charge.update(status="failed", failure_code=bank.failure_code, failure_message=bank.failure_message)
        error = {
            "type": "invalid_request_error",
            "code": bank.failure_code,
            "charge": charge["id"],
            "doc_url": "https://stripe.com/docs/error-codes/" + bank.failure_code.replace("_", "-"),
            "message": bank.failure_message,
            "payment_method": copy.deepcopy(pm),
        }
        pi.update(status="requires_payment_method", payment_method=None, last_payment_error=error)
        self._emit("payment_intent.payment_failed", pi, None)


def _method_options(kind: str) -> dict[str, Any]:
    if kind == "sepa_debit":
        return {"mandate_options": {}, "setup_future_usage": None, "target_date": None}
    return {
        "mandate_options": {},
        "setup_future_usage": None,
        "target_date": None,
        "verification_method": "automatic",
    }


def _acceptance(mandate_data: Any, *, what: str) -> dict[str, Any]:
    """The customer's acceptance of the mandate, as Stripe requires it for a bank debit."""
    acceptance = (mandate_data or {}).get("customer_acceptance") if isinstance(mandate_data, dict) else None
    if not acceptance:
        raise _invalid(
            _MANDATE_MISSING.format(what=what), param="mandate_data", code="setup_intent_mandate_invalid"
        )
    kind = acceptance.get("type")
    if kind == "online":
        online = acceptance.get("online") or {}
        for field in ("ip_address", "user_agent"):
            if not online.get(field):
                raise _invalid(
                    f"Missing required param: mandate_data[customer_acceptance][online][{field}].",
                    param=f"mandate_data[customer_acceptance][online][{field}]",
                    code="parameter_missing",
                )
        return {
            "accepted_at": int(acceptance.get("accepted_at") or time.time()),
            "online": {"ip_address": online["ip_address"], "user_agent": online["user_agent"]},
            "type": "online",
        }
    return {
        "accepted_at": int(acceptance.get("accepted_at") or time.time()),
        "offline": {},
        "type": "offline",
    }
