"""Webhooks: ``setup_intent.succeeded``, ``payment_intent.amount_capturable_updated`` (authorized),
``payment_intent.payment_failed`` (declined), ``payment_intent.succeeded`` (captured, or charged with
automatic capture), ``payment_intent.canceled``; ``refund.created``, ``charge.refunded`` (the charge:
cumulative ``amount_refunded``, ``refunded`` once all is), ``refund.updated`` (the acquirer reference
arrived), or ``refund.created`` (pending) + ``refund.failed`` for a failed one (charge and balance
untouched);
``charge.dispute.created``, ``charge.dispute.closed``; ``customer.subscription.created``, on renewal
``payment_intent.succeeded`` + ``invoice.paid`` + ``invoice.payment_succeeded`` or
``payment_intent.payment_failed`` + ``invoice.payment_failed``, and ``customer.subscription.updated``
when the status changes (``previous_attributes.status``); ``payout.created``, ``payout.paid``,
``payout.reconciliation_completed``. Each event
(``evt_...``, ``data.object`` = a snapshot of the whole object, metadata included) is POSTed by a background thread ``webhook_delay_s`` after the change,
signed ``Stripe-Signature: t=...,v1=...`` with ``webhook_secret``; and, as Stripe does, to every enabled
WebhookEndpoint (``webhook_endpoints``) whose ``enabled_events`` has the type (or ``*``), signed with that
endpoint's secret (``webhooks_sent`` records those attempts with ``"endpoint": "we_..."``). ``hold_webhooks()`` keeps them queued
until ``release_webhooks()``; ``wait_for_webhooks()`` blocks until the queue is drained; ``webhooks_sent``
lists the attempts. A failed delivery is recorded, not retried: ``redeliver(event_id)`` is Stripe's retry.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import time
from typing import Any

from localcloud.sandboxes.base import _post
from localcloud.sandboxes.stripe.errors import new_id
from localcloud.sandboxes.stripe.state import StripeState, _Call, _Outgoing

log = logging.getLogger("localcloud.sandboxes.stripe")


class WebhooksMixin(StripeState):
    def hold_webhooks(self) -> None:
        """Events from now on stay queued (in order) until ``release_webhooks``."""
        with self._wh_cond:
            self._wh.held = True

    def release_webhooks(self) -> None:
        with self._wh_cond:
            self._wh.held = False
            self._wh_cond.notify_all()

    def wait_for_webhooks(self, timeout_s: float = 5.0) -> None:
        """Block until every queued event was delivered (``TimeoutError`` if not within ``timeout_s``,
        e.g. while held)."""
        deadline = time.monotonic() + timeout_s
        with self._wh_cond:
            while self._wh.queue or self._wh.in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._wh.queue) + self._wh.in_flight} webhook(s) still pending")
                self._wh_cond.wait(remaining)

    def redeliver(self, event_id: str) -> tuple[int, str]:
        """POST the event again now (same body, signed anew), as Stripe's retry or the dashboard's Resend."""
        with self._lock:
            body = self._event_bodies[event_id]
        return self._deliver(event_id, body)

    def redelivery_headers(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return self._signed_headers(body)  # Stripe signs every attempt with a fresh timestamp

    def events(self) -> list[dict[str, Any]]:
        """Every event created so far (delivered or not), oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._events.values()))

    @property
    def webhooks_sent(self) -> list[dict[str, Any]]:
        """Delivery attempts: ``{"event_id", "type", "status" (None if unreachable), "response", "error",
        "attempt"}``, oldest first."""
        with self._lock:
            return copy.deepcopy(self._sent)

    def _emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        call: _Call | None,
        previous: dict[str, Any] | None = None,
    ) -> None:
        event_id = new_id("evt", 24)
        with self._lock:
            endpoints = self._endpoints_for(event_type)
        event: dict[str, Any] = {
            "id": event_id,
            "object": "event",
            "api_version": self.api_version,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1 + len(endpoints),
            "request": {
                "id": call.request_id if call else None,
                "idempotency_key": call.idempotency_key if call else None,
            },
            "type": event_type,
        }
        if previous is not None:
            event["data"]["previous_attributes"] = copy.deepcopy(previous)
        with self._lock:
            self._events[event_id] = event
            self._event_bodies[event_id] = json.dumps(event, indent=2).encode()
        with self._wh_cond:
            due = time.monotonic() + self.webhook_delay_s
            self._wh.queue.append(_Outgoing(event_id, due))
            self._wh.queue.extend(_Outgoing(event_id, due, endpoint) for endpoint in endpoints)
            self._wh_cond.notify_all()

    def _deliver_loop(self) -> None:
        while True:
            with self._wh_cond:
                while not self._wh.stopping and (self._wh.held or not self._wh.queue):
                    self._wh_cond.wait(0.5)
                if self._wh.stopping:
                    return
                outgoing = self._wh.queue[0]
                wait = outgoing.due - time.monotonic()
                if wait > 0:
                    self._wh_cond.wait(wait)  # may wake early: loop and look again (held? stopping?)
                    continue
                self._wh.queue.popleft()
                self._wh.in_flight += 1
            try:
                with self._lock:
                    body = self._event_bodies[outgoing.event_id]
                self._deliver(outgoing.event_id, body, outgoing.endpoint)
            except OSError:
                pass  # recorded in webhooks_sent; Stripe would retry later, here redeliver() does
            except Exception:
                log.exception("stripe sandbox: delivering %s failed", outgoing.event_id)
            finally:
                with self._wh_cond:
                    self._wh.in_flight -= 1
                    self._wh_cond.notify_all()

    def _deliver(self, event_id: str, body: bytes, endpoint: str | None = None) -> tuple[int, str]:
        """POST the event to the sandbox's ``webhook_url`` (``endpoint`` None) or to a WebhookEndpoint's
        ``url``, signed with that endpoint's secret."""
        with self._lock:
            event_type = self._events[event_id]["type"]
            attempt = 1 + sum(
                1 for sent in self._sent if sent["event_id"] == event_id and sent.get("endpoint") == endpoint
            )
            target = (
                None
                if endpoint is None
                else (self._webhook_endpoints[endpoint]["url"], self._endpoint_secrets[endpoint])
            )
        record: dict[str, Any] = {
            "event_id": event_id,
            "type": event_type,
            "attempt": attempt,
            "status": None,
            "response": None,
            "error": None,
        }
        if endpoint is not None:
            record["endpoint"] = endpoint
        try:
            if target is None:
                status, text = self.post_webhook(body, self._signed_headers(body))
            else:
                url, secret = target
                status, text = _post(url, body, self._signed_headers(body, secret))
            record.update(status=status, response=text[:1000])
            return status, text
        except OSError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            log.info("stripe sandbox: webhook %s %s not delivered: %s", event_type, event_id, exc)
            raise
        finally:
            with self._lock:
                self._sent.append(record)

    def _signed_headers(self, body: bytes, secret: str | None = None) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature_header(body, secret or self.webhook_secret),
        }


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's ``Stripe-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}" keyed
    with the endpoint's signing secret>`` (https://docs.stripe.com/webhooks#verify-manually)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"
