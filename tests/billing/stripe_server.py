"""A small local Stripe: answers the API endpoints Easel uses, and signs webhooks as Stripe does.

The real `stripe` SDK talks to it (settings.STRIPE_API_BASE). Tests drive what Stripe would do
on its side (a customer pays, an invoice is paid, a charge is refunded) through the helper
methods, then deliver the matching events to Easel's webhook endpoint, signed exactly as Stripe
signs them: header `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.

Reusable outside tests/billing:

    from tests.billing.stripe_server import StripeServer, signature_header
    with StripeServer() as stripe_server:
        settings.STRIPE_API_BASE = stripe_server.url
        ...
        session = stripe_server.pay_checkout_session(session_id)
        stripe_server.deliver(client, "checkout.session.completed", session)

or use the `stripe_server` / `stripe_settings` fixtures in tests/billing/conftest.py.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2025-03-31.basil"
WEBHOOK_PATH = "/billing/stripe/webhook/"
TEST_WEBHOOK_SECRET = "whsec_local_test_secret"
TEST_SECRET_KEY = "sk_test_local_server"


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header for `payload`, computed as Stripe computes it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=x`) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            nxt = "" if last else parts[index + 1]
            if isinstance(node, list):
                position = int(part)
                while len(node) <= position:
                    node.append({} if nxt and not nxt.isdigit() else [])
                if last:
                    node[position] = value
                else:
                    if nxt.isdigit() and not isinstance(node[position], list):
                        node[position] = []
                    node = node[position]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt.isdigit() else {})
    return root


class StripeState:
    """What the fake Stripe knows: objects by id, and every request Easel made."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.counter = itertools.count(1)
        self.fail_next: int | None = None  # answer the next request with this HTTP status

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_test{next(self.counter):05d}{secrets.token_hex(4)}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_local")
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, path: str) -> None:
        self._send(
            404, {"error": {"type": "invalid_request_error", "message": f"No such object: {path}"}}
        )

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET", {})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch("POST", decode_form(self.rfile.read(length).decode()))

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE", {})

    def _dispatch(self, method: str, params: dict[str, Any]) -> None:
        url = urlsplit(self.path)
        if method == "GET":
            params = decode_form(url.query)
        state = self.server.state
        with state.lock:
            state.requests.append((method, url.path, params))
            if state.fail_next:
                status, state.fail_next = state.fail_next, None
                self._send(status, {"error": {"type": "api_error", "message": "simulated outage"}})
                return
            key = self.headers.get("Idempotency-Key")
            if method == "POST" and key and key in state.idempotent:
                self._send(200, state.idempotent[key])
                return
            status, body = self.server.owner.route(method, url.path, params)
            if method == "POST" and key and status == 200:
                state.idempotent[key] = body
        self._send(status, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: StripeState
    owner: StripeServer


class StripeServer:
    """Start with `with StripeServer() as server:` or `.start()` / `.stop()`."""

    def __init__(self) -> None:
        self.state = StripeState()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StripeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StripeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self.state.lock:
            self.state.objects.clear()
            self.state.idempotent.clear()
            self.state.requests.clear()
            self.state.fail_next = None

    # --- the API endpoints Easel calls --------------------------------------------------------

    def route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        objects = self.state.objects
        if method == "POST" and path == "/v1/customers":
            return 200, self._store(
                {
                    "object": "customer",
                    "email": params.get("email"),
                    "metadata": params.get("metadata", {}),
                },
                "cus",
            )
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self._checkout_session_create(params)
        if method == "POST" and path == "/v1/billing_portal/sessions":
            if params.get("customer") not in objects:
                return 404, {
                    "error": {"type": "invalid_request_error", "message": "No such customer"}
                }
            portal = self._store(
                {
                    "object": "billing_portal.session",
                    "customer": params["customer"],
                    "return_url": params.get("return_url"),
                },
                "bps",
            )
            portal["url"] = f"{self.url}/portal/{portal['id']}"
            return 200, portal
        cancel = re.fullmatch(r"/v1/subscriptions/(\w+)", path)
        if method == "DELETE" and cancel and cancel.group(1) in objects:
            objects[cancel.group(1)]["status"] = "canceled"
            return 200, objects[cancel.group(1)]
        if method == "GET" and path in ("/v1/checkout/sessions", "/v1/disputes"):
            return 200, self._list(path, params)
        match = re.fullmatch(
            r"/v1/(checkout/sessions|invoices|payment_intents|subscriptions|customers|charges"
            r"|disputes)/([\w]+)",
            path,
        )
        if method == "GET" and match and match.group(2) in objects:
            found = json.loads(json.dumps(objects[match.group(2)]))
            if "latest_charge" in params.get("expand", []) and isinstance(
                found.get("latest_charge"), str
            ):
                found["latest_charge"] = objects.get(found["latest_charge"], found["latest_charge"])
            return 200, found
        return 404, {
            "error": {"type": "invalid_request_error", "message": f"No such object: {path}"}
        }

    def _list(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """List endpoints, filtered as Stripe filters them: sessions by payment intent, disputes
        by charge."""
        kind, field = {
            "/v1/checkout/sessions": ("checkout.session", "payment_intent"),
            "/v1/disputes": ("dispute", "charge"),
        }[path]
        wanted = params.get(field)
        data = [
            json.loads(json.dumps(obj))
            for obj in self.state.objects.values()
            if obj.get("object") == kind and (wanted is None or obj.get(field) == wanted)
        ]
        return {"object": "list", "url": path, "has_more": False, "data": data}

    def _store(self, obj: dict[str, Any], prefix: str) -> dict[str, Any]:
        obj.setdefault("id", self.state.new_id(prefix))
        obj.setdefault("created", int(time.time()))
        obj.setdefault("livemode", False)
        self.state.objects[obj["id"]] = obj
        return obj

    def _checkout_session_create(self, params: dict[str, Any]) -> dict[str, Any]:
        items = params.get("line_items", [])
        amount = sum(
            int((item.get("price_data") or {}).get("unit_amount", 0)) * int(item.get("quantity", 1))
            for item in items
        )
        session = self._store(
            {
                "object": "checkout.session",
                "mode": params.get("mode"),
                "customer": params.get("customer"),
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata", {}),
                "line_items_requested": items,
                "amount_total": amount,
                "currency": ((items[0].get("price_data") or {}).get("currency") if items else None)
                or "usd",
                "payment_status": "unpaid",
                "status": "open",
                "payment_intent": None,
                "subscription": None,
                "invoice": None,
                "success_url": params.get("success_url"),
                "cancel_url": params.get("cancel_url"),
            },
            "cs",
        )
        session["url"] = f"{self.url}/checkout/{session['id']}"
        return session

    # --- what happens on Stripe's side (tests call these) --------------------------------------

    def get(self, object_id: str) -> dict[str, Any]:
        return json.loads(json.dumps(self.state.objects[object_id]))

    def _charge(
        self, *, amount: int, currency: str, customer: str | None, invoice: str | None = None
    ) -> tuple[dict, dict]:
        intent = self._store(
            {
                "object": "payment_intent",
                "amount": amount,
                "currency": currency,
                "customer": customer,
                "status": "succeeded",
            },
            "pi",
        )
        charge = self._store(
            {
                "object": "charge",
                "amount": amount,
                "amount_refunded": 0,
                "currency": currency,
                "customer": customer,
                "payment_intent": intent["id"],
                "refunded": False,
                "disputed": False,
                "invoice": invoice,
                "paid": True,
            },
            "ch",
        )
        charge["receipt_url"] = f"https://pay.stripe.com/receipts/{charge['id']}"
        intent["latest_charge"] = charge["id"]
        return intent, charge

    def pay_checkout_session(
        self,
        session_id: str,
        *,
        asynchronous: bool = False,
        price_id: str = "",
        period_days: int = 30,
    ) -> dict[str, Any]:
        """The customer pays. Returns the session as checkout.session.completed carries it.

        `asynchronous=True`: a bank debit, `unpaid` at completion; see `settle_async_payment`.
        A subscription session also gets its Subscription and first paid Invoice.
        """
        with self.state.lock:
            session = self.state.objects[session_id]
            session["status"] = "complete"
            if session["mode"] == "subscription":
                subscription, invoice = self._subscription_start(
                    session, price_id=price_id, period_days=period_days
                )
                session["subscription"] = subscription["id"]
                session["invoice"] = invoice["id"]
                session["payment_status"] = "paid"
            else:
                intent, _ = self._charge(
                    amount=session["amount_total"],
                    currency=session["currency"],
                    customer=session["customer"],
                )
                session["payment_intent"] = intent["id"]
                session["payment_status"] = "unpaid" if asynchronous else "paid"
            return json.loads(json.dumps(session))

    def settle_async_payment(self, session_id: str, *, succeeded: bool = True) -> dict[str, Any]:
        with self.state.lock:
            session = self.state.objects[session_id]
            session["payment_status"] = "paid" if succeeded else "unpaid"
            return json.loads(json.dumps(session))

    def _subscription_start(
        self, session: dict[str, Any], *, price_id: str, period_days: int
    ) -> tuple[dict, dict]:
        now = int(time.time())
        subscription = self._store(
            {
                "object": "subscription",
                "customer": session["customer"],
                "status": "active",
                "cancel_at_period_end": False,
                "metadata": session.get("metadata", {}),
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "object": "subscription_item",
                            "price": {"id": price_id, "object": "price"},
                            "current_period_start": now,
                            "current_period_end": now + period_days * 86400,
                        }
                    ],
                },
            },
            "sub",
        )
        invoice = self.create_paid_invoice(
            subscription["id"],
            price_id=price_id,
            period_start=now,
            period_end=now + period_days * 86400,
            billing_reason="subscription_create",
            locked=True,
        )
        return subscription, invoice

    def create_paid_invoice(
        self,
        subscription_id: str,
        *,
        price_id: str,
        period_start: int,
        period_end: int,
        billing_reason: str = "subscription_cycle",
        amount: int = 1500,
        locked: bool = False,
    ) -> dict[str, Any]:
        """A paid subscription invoice (basil shape), as invoice.paid carries it."""
        if not locked:
            with self.state.lock:
                return self.create_paid_invoice(
                    subscription_id,
                    price_id=price_id,
                    period_start=period_start,
                    period_end=period_end,
                    billing_reason=billing_reason,
                    amount=amount,
                    locked=True,
                )
        subscription = self.state.objects[subscription_id]
        invoice_id = self.state.new_id("in")
        intent, _ = self._charge(
            amount=amount, currency="usd", customer=subscription["customer"], invoice=invoice_id
        )
        invoice = self._store(
            {
                "id": invoice_id,
                "object": "invoice",
                "customer": subscription["customer"],
                "status": "paid",
                "amount_paid": amount,
                "currency": "usd",
                "billing_reason": billing_reason,
                "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}",
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": subscription_id},
                },
                "period_start": period_start,
                "period_end": period_end,
                "lines": {
                    "object": "list",
                    "data": [
                        {
                            "object": "line_item",
                            "amount": amount,
                            "pricing": {
                                "type": "price_details",
                                "price_details": {"price": price_id, "product": "prod_x"},
                            },
                            "period": {"start": period_start, "end": period_end},
                        }
                    ],
                },
                "payments": {
                    "object": "list",
                    "data": [
                        {
                            "object": "invoice_payment",
                            "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
                        }
                    ],
                },
            },
            "in",
        )
        return json.loads(json.dumps(invoice))

    def update_subscription(self, subscription_id: str, **changes: Any) -> dict[str, Any]:
        with self.state.lock:
            subscription = self.state.objects[subscription_id]
            price_id = changes.pop("price_id", None)
            if price_id:
                subscription["items"]["data"][0]["price"] = {"id": price_id, "object": "price"}
            subscription.update(changes)
            return json.loads(json.dumps(subscription))

    def refund(self, charge_id: str, *, amount: int | None = None) -> dict[str, Any]:
        """Refund (part of) a charge. Returns the charge as charge.refunded carries it."""
        with self.state.lock:
            charge = self.state.objects[charge_id]
            charge["amount_refunded"] = min(
                charge["amount"], charge["amount_refunded"] + (amount or charge["amount"])
            )
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            return json.loads(json.dumps(charge))

    def dispute(self, charge_id: str) -> dict[str, Any]:
        with self.state.lock:
            charge = self.state.objects[charge_id]
            charge["disputed"] = True
            return json.loads(
                json.dumps(
                    self._store(
                        {
                            "object": "dispute",
                            "charge": charge_id,
                            "payment_intent": charge["payment_intent"],
                            "amount": charge["amount"],
                            "status": "needs_response",
                            "reason": "fraudulent",
                        },
                        "dp",
                    )
                )
            )

    def close_dispute(self, dispute_id: str, *, won: bool) -> dict[str, Any]:
        with self.state.lock:
            dispute = self.state.objects[dispute_id]
            dispute["status"] = "won" if won else "lost"
            return json.loads(json.dumps(dispute))

    def charge_of(self, payment_intent_id: str) -> str:
        return self.state.objects[payment_intent_id]["latest_charge"]

    # --- webhooks ---------------------------------------------------------------------------------

    def event(
        self, event_type: str, obj: dict[str, Any], *, event_id: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": event_id or self.state.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": event_type,
            "data": {"object": obj},
        }

    def deliver(
        self,
        client: Any,
        event: dict[str, Any] | str,
        obj: dict[str, Any] | None = None,
        *,
        secret: str = TEST_WEBHOOK_SECRET,
        timestamp: int | None = None,
        path: str = WEBHOOK_PATH,
    ) -> Any:
        """POST an event (or `type, object`), signed, to Easel's webhook with a test client."""
        if isinstance(event, str):
            assert obj is not None
            event = self.event(event, obj)
        payload = json.dumps(event).encode()
        return client.post(
            path,
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature_header(payload, secret, timestamp),
        )
