"""What tests/openapi/fuzz.sh fuzzes with, made through the API as a user would.

`fixtures.py setup`: a customer, an organizer and a gate account (roles granted with tb-db,
as an operator does), signed in; a published event of the organizer with the gate account
as its staff; two holds of the customer on it, one ordered and paid for. Prints shell
`export` lines: the three tokens, and TB_FUZZ_KNOWN_IDS, the real id for each documented
path with an `{id}`, so that fuzzing reaches past the lookups (hooks.py).
`fixtures.py cancel <organizer token>`: cancels the organizer's events, so they leave the
catalog.
Needs TICKETBUSTER_URL, DATABASE_URL and TB_DB (the tb-db binary).
"""

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

BASE = os.environ["TICKETBUSTER_URL"]
PASSWORD = os.urandom(12).hex()


def call(method, path, token=None, body=None, headers=None):
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            **({"authorization": f"Bearer {token}"} if token else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"[fixtures] {method} {path}: {e.code} {e.read()[:500]!r}")
    return json.loads(raw) if raw else None


def account(role):
    email = f"fuzz-{role}-{time.time_ns()}@example.com"
    call("POST", "/api/auth/register", body={"email": email, "password": PASSWORD, "name": f"Fuzz {role}"})
    if role != "customer":
        subprocess.run([os.environ["TB_DB"], "grant-role", email, role], check=True, stdout=sys.stderr)
    # Signed in after the grant: the token carries the role.
    return email, call("POST", "/api/auth/login", body={"email": email, "password": PASSWORD})["access_token"]


def setup():
    _, customer = account("customer")
    _, organizer = account("organizer")
    gate_email, gate = account("gate")
    now = datetime.now(timezone.utc)
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    event = call("POST", "/api/organizer/events", organizer, {
        "title": "Fuzzed event", "category": "concert", "venue": "Hall", "city": "Town",
        "starts_at": iso(now + timedelta(days=30)), "sales_start": iso(now - timedelta(days=1)),
        "tiers": [{"name": "Floor", "price_cents": 2500}],
        "sections": [{"name": "Floor", "rows": [{"name": "A", "seats": 20, "tier": "Floor"}]}],
    })
    event_id = event["id"]
    # A change with real dates: on Spin it once failed (500) where native tests passed.
    call("PATCH", f"/api/organizer/events/{event_id}", organizer, {"description": "Fuzzed.", "sales_end": None})
    call("POST", f"/api/organizer/events/{event_id}/publish", organizer)
    call("POST", f"/api/organizer/events/{event_id}/gate-staff", organizer, {"email": gate_email})
    seats = call("GET", f"/api/events/{event_id}/seats")["sections"][0]["rows"][0]["seats"]
    ordered, free = (call("POST", f"/api/events/{event_id}/holds", customer, {"seat_ids": [s["id"]]})["hold_id"]
                     for s in seats[:2])
    order_id = call("POST", "/api/orders", customer, {"hold_id": ordered}, {"idempotency-key": ordered})["order_id"]
    for _ in range(150):
        tickets = call("GET", f"/api/orders/{order_id}/tickets", customer)["items"]
        if tickets:
            break
        time.sleep(0.2)
    else:
        sys.exit(f"[fixtures] order {order_id} issued no ticket")
    ticket_id = tickets[0]["ticket_id"]
    known = {
        "/api/events/{id}": event_id,
        "/api/events/{id}/seats": event_id,
        "/api/events/{id}/holds": event_id,
        "/api/events/{id}/queue": event_id,
        "/api/events/{id}/gate-bundle": event_id,
        "/api/holds/{id}": free,
        "/api/orders/{id}": order_id,
        "/api/orders/{id}/cancel": order_id,
        "/api/orders/{id}/tickets": order_id,
        "/api/tickets/{id}/qr.svg": ticket_id,
        "/api/tickets/{id}/qr.png": ticket_id,
    }
    known.update({path: event_id for path in (
        "/api/organizer/events/{id}", "/api/organizer/events/{id}/publish",
        "/api/organizer/events/{id}/cancel", "/api/organizer/events/{id}/sales",
        "/api/organizer/events/{id}/attendees.csv", "/api/organizer/events/{id}/gate-staff",
        "/api/organizer/events/{id}/waiting-room",
    )})
    for name, value in {
        "TB_FUZZ_CUSTOMER_TOKEN": customer, "TB_FUZZ_ORGANIZER_TOKEN": organizer,
        "TB_FUZZ_GATE_TOKEN": gate, "TB_FUZZ_KNOWN_IDS": json.dumps(known),
    }.items():
        print(f"export {name}={shlex.quote(value)}")


def cancel(organizer):
    for event in call("GET", "/api/organizer/events", organizer)["events"]:
        if event["status"] != "cancelled":
            call("POST", f"/api/organizer/events/{event['id']}/cancel", organizer)


if __name__ == "__main__":
    setup() if sys.argv[1] == "setup" else cancel(sys.argv[2])
