#!/usr/bin/env python3
"""Razorpay's own Python client (PyPI `razorpay`, pinned in
.ci/razorpay-requirements.txt) against a live contactd, with only its base
URL and keys changed (issue 19, part 3). Run by scripts/razorpay-client.sh.

    BASE_URL=http://127.0.0.1:PORT KEY_ID=key_... KEY_SECRET=sk_... \
        python3 tests/dialects/razorpay_client.py

The key must have a single biller grant (the demo key `contactd serve`
prints: biller DEMO), so /v1/contacts resolves to that biller, and the biller
must hold no contact made from the seed's example yet (a fresh server).

The client has no Contact resource (Contacts are RazorpayX), so this uses its
generic calls, as a merchant would: client.post/get/patch(path, data), which
send base_url + path with Basic auth, JSON bodies and its own error mapping
(error.code BAD_REQUEST_ERROR -> razorpay.errors.BadRequestError(description)).
Everything asserted comes from what those calls return or raise; a response
hook on the client's requests session only watches the wire as well (status,
key order of the raw JSON, error.field), it changes nothing that is sent.

Prints each step; exits 1 on the first failure, saying what was expected and
what the server answered.
"""

import importlib.metadata
import json
import os
import re
import sys
import time

import razorpay
from razorpay.errors import BadRequestError

BASE_URL = os.environ.get("BASE_URL", "").rstrip("/")
KEY_ID = os.environ.get("KEY_ID", "")
KEY_SECRET = os.environ.get("KEY_SECRET", "")

# The seed's example body (001_88b27b4b21d8e4f0.txt), the ellipsis included.
SEED = {
    "name": "Gaurav Kumar",
    "email": "gaurav.kumar@example.com",
    "contact": "9000090000",
    "type": "self",
    "reference_id": "Acme Contact ID 12345",
    "notes": {
        "notes_key_1": "Tea, Earl Grey, Hot",
        "notes_key_2": "Tea, Earl Grey\u2026 decaf.",
    },
}
ENTITY_KEYS = ["id", "entity", "name", "contact", "email", "type",
               "reference_id", "batch_id", "active", "notes", "created_at"]
COLLECTION_KEYS = ["entity", "count", "items"]
ID = re.compile(r"^cont_[0-9A-Za-z]{14}$")
UNKNOWN_ID = "cont_00000000000001"
MALFORMED_ID = "cont_bad!"


class Failure(Exception):
    pass


class Wire:
    """The last response the client's session received (a requests hook)."""

    def __init__(self):
        self.response = None

    def hook(self, response, *args, **kwargs):
        self.response = response
        return response

    @property
    def status(self):
        return self.response.status_code if self.response is not None else None

    def json(self):
        try:
            return json.loads(self.response.text)
        except ValueError as e:
            raise Failure("the response body is not JSON ({}): {!r}".format(e, self.response.text[:500]))

    def describe(self):
        r = self.response
        if r is None:
            return "(no response received)"
        return "{} {} -> {} {}\n  {}".format(
            r.request.method, r.request.url, r.status_code,
            r.headers.get("Content-Type", "(no Content-Type)"), r.text[:2000])


wire = Wire()
step_name = "start"


def make_client(auth):
    c = razorpay.Client(auth=auth, base_url=BASE_URL)
    c.session.hooks["response"].append(wire.hook)
    return c


def step(name):
    global step_name
    step_name = name
    print("--", name, flush=True)


def ok(what):
    print("   ok:", what, flush=True)


def check(cond, message):
    if not cond:
        raise Failure(message)


def equal(got, want, what):
    check(got == want, "{}: expected {!r}, got {!r}".format(what, want, got))


def expect_status(want):
    equal(wire.status, want, "HTTP status")


def check_entity(c, want, what="contact"):
    """c is what the client returned; want holds the fields it must have."""
    check(isinstance(c, dict), "{}: expected a JSON object, got {!r}".format(what, c))
    raw = wire.json()
    equal(c, raw, "{}: what the client returned vs the raw body".format(what))
    equal(list(raw.keys()), ENTITY_KEYS, "{}: keys, in order".format(what))
    check(isinstance(c["id"], str) and ID.match(c["id"]),
          "{}: id {!r} does not match {}".format(what, c["id"], ID.pattern))
    equal(c["entity"], "contact", what + ": entity")
    check(isinstance(c["created_at"], int) and not isinstance(c["created_at"], bool),
          "{}: created_at is not an integer: {!r}".format(what, c["created_at"]))
    check(abs(c["created_at"] - time.time()) < 600,
          "{}: created_at {} is not close to now ({})".format(what, c["created_at"], int(time.time())))
    for key, value in want.items():
        equal(c[key], value, "{}: {}".format(what, key))


def list_of(c):
    check(isinstance(c, dict), "list: expected a JSON object, got {!r}".format(c))
    raw = wire.json()
    equal(c, raw, "list: what the client returned vs the raw body")
    equal(list(raw.keys()), COLLECTION_KEYS, "list: envelope keys, in order")
    equal(c["entity"], "collection", "list: entity")
    check(isinstance(c["items"], list), "list: items is not an array: {!r}".format(c["items"]))
    equal(c["count"], len(c["items"]), "list: count vs the number of items")
    for item in c["items"]:
        check(isinstance(item, dict), "list: an item is not an object: {!r}".format(item))
        equal(list(item.keys()), ENTITY_KEYS, "list: an item's keys, in order")
    return c["items"]


def ids(items):
    return [i["id"] for i in items]


def expect_bad_request(call, status=400, description=None, contains=None, field=None):
    """call must raise the client's own BadRequestError; returns its message."""
    try:
        got = call()
    except BadRequestError as e:
        message = str(e)
    except Exception as e:
        raise Failure("expected razorpay.errors.BadRequestError, the client raised {}.{}: {}".format(
            type(e).__module__, type(e).__name__, e))
    else:
        raise Failure("expected razorpay.errors.BadRequestError, the call returned {!r}".format(got))
    expect_status(status)
    body = wire.json()
    error = body.get("error") if isinstance(body, dict) else None
    check(isinstance(error, dict), "the error body has no error object: {!r}".format(body))
    equal(error.get("code"), "BAD_REQUEST_ERROR", "error.code")
    equal(message, error.get("description"), "the exception's message vs error.description")
    if description is not None:
        equal(message, description, "the exception's message")
    if contains is not None:
        check(contains in message, "the exception's message {!r} does not contain {!r}".format(message, contains))
    if field is not None:
        equal(error.get("field"), field, "error.field (not exposed by the client; read on the wire)")
    ok("BadRequestError({!r}), HTTP {}{}".format(
        message, wire.status, ", field {!r}".format(error.get("field")) if "field" in error else ""))
    return message


def with_(**changes):
    body = json.loads(json.dumps(SEED))
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def run():
    check(BASE_URL and KEY_ID and KEY_SECRET, "BASE_URL, KEY_ID and KEY_SECRET must be set")
    print("razorpay", importlib.metadata.version("razorpay"), "against", BASE_URL, flush=True)
    client = make_client((KEY_ID, KEY_SECRET))
    fields = {k: v for k, v in SEED.items()}

    step("create the seed's example contact")
    created = client.post("/v1/contacts", SEED)
    expect_status(201)
    check_entity(created, dict(fields, batch_id=None, active=True))
    cid = created["id"]
    ok("201, {} with the seed's fields, keys in the seed's order".format(cid))

    step("create again with the same name, email, contact, type and reference_id")
    again = client.post("/v1/contacts", SEED)
    expect_status(200)
    check_entity(again, created)
    ok("200, the same contact {}".format(cid))

    step("create one that differs only in reference_id")
    other_body = with_(reference_id="Acme Contact ID 12346")
    other = client.post("/v1/contacts", other_body)
    expect_status(201)
    check_entity(other, dict(other_body, batch_id=None, active=True))
    oid = other["id"]
    check(oid != cid, "a different reference_id gave the same contact {}".format(cid))
    ok("201, a new contact {}".format(oid))

    step("create at the limits: a 40-character reference_id, 15 notes of 256 characters")
    edge_body = with_(name="Edge Case (limits) 1", email="edge@example.com", reference_id="r" * 40,
                      notes={"k{:02}".format(i): "v" * 256 for i in range(15)})
    edge = client.post("/v1/contacts", edge_body)
    expect_status(201)
    check_entity(edge, dict(edge_body, batch_id=None, active=True))
    ok("201, {}".format(edge["id"]))

    step("fetch by id")
    fetched = client.get("/v1/contacts/" + cid, {})
    expect_status(200)
    check_entity(fetched, created)
    ok("the created contact")

    step("list")
    everything = list_of(client.get("/v1/contacts", {"count": 100}))
    for want in (cid, oid, edge["id"]):
        check(want in ids(everything), "list count=100: {} is not among the items {}".format(want, ids(everything)))
    equal([i for i in everything if i["id"] == cid], [created], "list: the created contact's item")
    ok("{} items, the created ones among them".format(len(everything)))
    default = list_of(client.get("/v1/contacts", {}))
    check(len(default) == min(10, len(everything)),
          "list without count: expected {} items (default count 10), got {}".format(min(10, len(everything)), len(default)))
    ok("no count: {} items".format(len(default)))

    step("list with count and skip")
    first = list_of(client.get("/v1/contacts", {"count": 1}))
    equal(len(first), 1, "list count=1: items")
    second = list_of(client.get("/v1/contacts", {"count": 1, "skip": 1}))
    equal(len(second), 1, "list count=1 skip=1: items")
    check(first[0]["id"] != second[0]["id"], "skip=1 gave the same item as skip=0: {}".format(first[0]["id"]))
    equal(ids(first + second), ids(everything)[:2], "count=1 then count=1 skip=1 vs the first two of the whole list")
    beyond = list_of(client.get("/v1/contacts", {"count": 10, "skip": len(everything)}))
    equal(beyond, [], "list skip=<all>: items")
    ok("count=1: {}, count=1&skip=1: {}, skip past the end: none".format(first[0]["id"], second[0]["id"]))

    step("list filtered by reference_id")
    by_ref = list_of(client.get("/v1/contacts", {"reference_id": SEED["reference_id"]}))
    check(cid in ids(by_ref), "reference_id filter: {} missing from {}".format(cid, ids(by_ref)))
    check(oid not in ids(by_ref), "reference_id filter: {} (another reference_id) listed".format(oid))
    for item in by_ref:
        equal(item["reference_id"], SEED["reference_id"], "reference_id filter: an item's reference_id")
    ok(", ".join(ids(by_ref)))

    step("list filtered by email")
    by_email = list_of(client.get("/v1/contacts", {"email": SEED["email"]}))
    for want in (cid, oid):
        check(want in ids(by_email), "email filter: {} missing from {}".format(want, ids(by_email)))
    check(edge["id"] not in ids(by_email), "email filter: {} (another email) listed".format(edge["id"]))
    for item in by_email:
        equal(item["email"], SEED["email"], "email filter: an item's email")
    ok(", ".join(ids(by_email)))

    step('patch {"active": false}')
    inactive = client.patch("/v1/contacts/" + cid, {"active": False})
    expect_status(200)
    check_entity(inactive, dict(created, active=False))
    ok("active false, every other field unchanged")
    equal(client.get("/v1/contacts/" + cid, {}), inactive, "fetch after the patch")
    ok("a fetch shows it")
    by_active = list_of(client.get("/v1/contacts", {"active": 0, "count": 100}))
    check(cid in ids(by_active) and oid not in ids(by_active),
          "active=0 filter: expected {} and not {}, got {}".format(cid, oid, ids(by_active)))
    by_active = list_of(client.get("/v1/contacts", {"active": 1, "count": 100}))
    check(oid in ids(by_active) and cid not in ids(by_active),
          "active=1 filter: expected {} and not {}, got {}".format(oid, cid, ids(by_active)))
    ok("active=0 lists it, active=1 does not")

    step("patch the name")
    renamed = client.patch("/v1/contacts/" + cid, {"name": "Gaurav Kumar Jr"})
    expect_status(200)
    check_entity(renamed, dict(inactive, name="Gaurav Kumar Jr"))
    ok("the new name, every other field unchanged")
    fetched = client.get("/v1/contacts/" + cid, {})
    check_entity(fetched, renamed)
    ok("a fetch shows it")

    step("create without a name")
    expect_bad_request(lambda: client.post("/v1/contacts", with_(name=None)),
                       description="The name field is required.")

    step('create with the name "Gaurav@Kumar!"')
    expect_bad_request(lambda: client.post("/v1/contacts", with_(name="Gaurav@Kumar!")),
                       description="The name field is invalid.")

    step('create with the type "contact_typeA"')
    expect_bad_request(lambda: client.post("/v1/contacts", with_(type="contact_typeA")),
                       description="Invalid type: contact_typeA")

    step("create with a 41-character reference_id")
    expect_bad_request(lambda: client.post("/v1/contacts", with_(reference_id="r" * 41)))

    step("create with 16 notes")
    expect_bad_request(lambda: client.post(
        "/v1/contacts", with_(reference_id="Sixteen notes", notes={"k{:02}".format(i): "v" for i in range(16)})))

    step("create with a 257-character note")
    expect_bad_request(lambda: client.post(
        "/v1/contacts", with_(reference_id="A long note", notes={"notes_key_1": "v" * 257})))

    step("patch with an invalid name")
    expect_bad_request(lambda: client.patch("/v1/contacts/" + cid, {"name": "Gaurav@Kumar!"}),
                       description="The name field is invalid.")
    equal(client.get("/v1/contacts/" + cid, {}), renamed, "fetch after the refused patch")
    ok("the contact is unchanged")

    step("fetch a malformed id " + MALFORMED_ID)
    expect_bad_request(lambda: client.get("/v1/contacts/" + MALFORMED_ID, {}),
                       description=MALFORMED_ID + " is not a valid id.", field="id")

    step("patch a malformed id " + MALFORMED_ID)
    expect_bad_request(lambda: client.patch("/v1/contacts/" + MALFORMED_ID, {"active": False}),
                       description=MALFORMED_ID + " is not a valid id.", field="id")

    step("fetch a well-formed unknown id " + UNKNOWN_ID)
    expect_bad_request(lambda: client.get("/v1/contacts/" + UNKNOWN_ID, {}),
                       contains="The id provided does not exist")

    step("patch a well-formed unknown id " + UNKNOWN_ID)
    expect_bad_request(lambda: client.patch("/v1/contacts/" + UNKNOWN_ID, {"active": False}),
                       contains="The id provided does not exist")

    # Last: a wrong secret is throttled, nothing may run after it.
    step("no credentials")
    expect_bad_request(lambda: make_client(None).get("/v1/contacts", {}), status=401)

    step("a wrong secret")
    expect_bad_request(lambda: make_client((KEY_ID, KEY_SECRET + "x")).get("/v1/contacts", {}),
                       status=401, description="The api key/secret provided is invalid")


def main():
    try:
        run()
    except Failure as e:
        print("FAIL at step '{}': {}".format(step_name, e), file=sys.stderr)
        print("  last exchange: " + wire.describe(), file=sys.stderr)
        return 1
    except Exception as e:
        print("FAIL at step '{}': the client raised {}.{}: {}".format(
            step_name, type(e).__module__, type(e).__name__, e), file=sys.stderr)
        print("  last exchange: " + wire.describe(), file=sys.stderr)
        return 1
    print("PASS: the razorpay client works against contactd", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
