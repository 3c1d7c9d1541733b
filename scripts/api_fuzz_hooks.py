"""Schemathesis hooks for the SegViz aggregator API (loaded by scripts/api-fuzz.sh via SCHEMATHESIS_HOOKS).

Every generated request is signed at the last moment (a `requests` auth object sees the final path, query
and body bytes) as Sources/Federation/RequestAuth.swift specifies: Ed25519 by the node's identity key over
the lines `segviz-request/v2`, federation name, aggregator public key (hex), METHOD, path with query, node id, timestamp, nonce, hex BLAKE2b-256 of the
body. A share of the requests is deliberately wrong instead: unsigned, as generated (schemathesis's own
header values), signed by a key the federation does not list, from an unknown node, stale, or replayed.
The `auth_is_enforced` check asserts that those get exactly the documented 401 or 403, never a success (or the
400 that a malformed path parameter gets before any signature check, as a body over the limit gets 413).
Half of the message requests carry the live round and session, so the handlers behind authentication
(decoding, the secure-aggregation state machine) see the generated bodies.

Environment: SEGVIZ_FUZZ_URL (aggregator base URL), SEGVIZ_FUZZ_NODE (node id), SEGVIZ_FUZZ_KEY (its
minisign-format secret key file, unencrypted), SEGVIZ_FUZZ_FEDERATION (the federation file: its name and
aggregator key are signed into every request), SEGVIZ_FUZZ_SEED (optional).
"""
import atexit
import base64
import collections
import hashlib
import json
import os
import random
import secrets
import threading
import time
from urllib.parse import urlsplit

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BASE = os.environ["SEGVIZ_FUZZ_URL"].rstrip("/")
NODE = os.environ["SEGVIZ_FUZZ_NODE"]
RNG = random.Random(int(os.environ.get("SEGVIZ_FUZZ_SEED", "1")))
LOCK = threading.Lock()
# Share of each kind of request; the rest are signed correctly.
VARIANTS = [("unsigned", 0.08), ("as-generated", 0.08), ("wrong-key", 0.08), ("unknown-node", 0.06),
            ("stale", 0.05), ("replayed", 0.05)]
EXPECTED = {"unknown-node": 403}  # every other wrong variant: 401
COUNTS = collections.Counter()
STATUSES = collections.Counter()


def load_secret_key(path):
    """Reads minisign's unencrypted secret key format (see Sources/Federation/MinisignFormat.swift)."""
    with open(path, encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("untrusted comment:")]
    if not lines:
        raise SystemExit(f"{path}: no key line")
    raw = base64.b64decode(lines[0])
    if len(raw) != 158 or raw[:2] != b"Ed":
        raise SystemExit(f"{path}: not a minisign Ed25519 secret key ({len(raw)} bytes)")
    if raw[2:4] != b"\0\0":
        raise SystemExit(f"{path}: the secret key is encrypted; api-fuzz needs an unencrypted one")
    key_id, secret, checksum = raw[54:62], raw[62:126], raw[126:158]
    if hashlib.blake2b(b"Ed" + key_id + secret, digest_size=32).digest() != checksum:
        raise SystemExit(f"{path}: checksum mismatch (corrupted key file)")
    return Ed25519PrivateKey.from_private_bytes(secret[:32])


KEY = load_secret_key(os.environ["SEGVIZ_FUZZ_KEY"])
with open(os.environ["SEGVIZ_FUZZ_FEDERATION"], encoding="utf-8") as _f:
    _federation = json.load(_f)
FEDERATION_NAME = _federation["name"]
# A minisign public key line: base64 of "Ed", 8-byte key id, 32-byte Ed25519 key.
_pk_lines = [l.strip() for l in _federation["aggregator"]["publicKey"].splitlines()
             if l.strip() and not l.startswith("untrusted comment:")]
AGGREGATOR_KEY_HEX = base64.b64decode(_pk_lines[0])[10:42].hex()
FOREIGN_KEY = Ed25519PrivateKey.generate()


def signed_headers(method, path, body, node=NODE, key=KEY, timestamp=None, nonce=None):
    """The four X-SegViz-* headers of RequestAuth.swift for one request."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16)
    canonical = "\n".join(["segviz-request/v2", FEDERATION_NAME, AGGREGATOR_KEY_HEX, method.upper(), path, node, str(timestamp), nonce,
                           hashlib.blake2b(body, digest_size=32).hexdigest()])
    signature = base64.b64encode(key.sign(canonical.encode())).decode()
    return {"X-SegViz-Node": node, "X-SegViz-Timestamp": str(timestamp), "X-SegViz-Nonce": nonce,
            "X-SegViz-Signature": signature}


class Signer(requests.auth.AuthBase):
    """Signs (or deliberately mis-signs) the prepared request as `variant` says."""

    def __init__(self, variant):
        self.variant = variant

    def __call__(self, r):
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        if self.variant != "as-generated":
            for name in [h for h in r.headers if h.lower().startswith("x-segviz-")]:
                del r.headers[name]
        if self.variant not in ("unsigned", "as-generated"):
            v = self.variant
            headers = signed_headers(r.method, r.path_url, body,
                                     node="not-a-node" if v == "unknown-node" else NODE,
                                     key=FOREIGN_KEY if v in ("wrong-key", "unknown-node") else KEY,
                                     timestamp=int(time.time()) - 3600 if v == "stale" else None)
            if v == "replayed":  # send it once correctly; the fuzzed request then reuses its nonce
                requests.request(r.method, r.url, data=body, headers=headers, timeout=30)
            r.headers.update(headers)
        r.headers["X-SegViz-Fuzz"] = self.variant
        return r


def live_round():
    """The aggregator's current round and session, read with a signed request."""
    r = requests.get(BASE + "/v1/status", headers=signed_headers("GET", "/v1/status", b""), timeout=30)
    r.raise_for_status()
    a = r.json()
    return a["round"], a["session"]


@schemathesis.hook
def before_call(context, case, kwargs):
    with LOCK:
        draw, live = RNG.random(), RNG.random() < 0.5
    variant, edge = "signed", 0.0
    for name, share in VARIANTS:
        edge += share
        if draw < edge:
            variant = name
            break
    meta = case.meta
    if meta is not None and any(loc.name == "HEADER" and info.mode.is_negative for loc, info in meta.components.items()):
        variant = "as-generated"  # schemathesis broke the authentication headers on purpose: keep them so
    params = case.path_parameters
    if live and params is not None and "session" in params:
        params["round"], params["session"] = live_round()
    kwargs["auth"] = Signer(variant)


@schemathesis.check
def auth_is_enforced(ctx, response, case):
    """A request that is not correctly signed gets exactly 401 (403 for an unknown node), whatever else is wrong."""
    request = response.request
    variant = request.headers.get("X-SegViz-Fuzz", "signed")
    path = urlsplit(request.url).path
    with LOCK:
        COUNTS[variant] += 1
        STATUSES[response.status_code] += 1
    if not path.startswith("/v1/") or variant == "signed" or request.method != case.operation.method.upper():
        return None  # an undocumented method: the unsupported_method check wants 405 before any authentication
    if variant == "as-generated" and response.status_code == 413:
        return None  # the body limit is checked before the signature
    if response.status_code == 400 and "path parameter" in response.text:
        return None  # malformed path parameters are refused before the signature (range-checked, never trapping)
    expected = EXPECTED.get(variant, 401)
    if response.status_code != expected:
        raise AssertionError(f"{variant} request to {request.method} {path} answered {response.status_code}, "
                             f"expected {expected}")
    return None


@atexit.register
def summary():
    if COUNTS:
        print("api-fuzz: requests by kind " + json.dumps(dict(sorted(COUNTS.items())))
              + "; responses by status " + json.dumps({str(k): v for k, v in sorted(STATUSES.items())}), flush=True)
