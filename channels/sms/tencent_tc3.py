"""TC3-HMAC-SHA256, Tencent Cloud API 3.0's request signature ("signature v3"), as pure functions.

Both sides use it: :mod:`channels.sms.tencent` signs requests, the loopback fake
(:mod:`channels.fakes.tencent_sms`) checks them with :func:`verify` the way Tencent does.
The steps, as Tencent documents them (its CVM ``DescribeInstances`` example is the unit test):

1. ``CanonicalRequest`` = method, ``/``, query, canonical headers, signed header names and the
   SHA-256 of the body, joined by newlines (:func:`canonical_request`);
2. ``StringToSign`` = algorithm, timestamp, credential scope ``<UTC date>/<service>/tc3_request``
   and the SHA-256 of the canonical request (:func:`string_to_sign`);
3. the key is derived from the secret, the UTC date and the service (:func:`tc3_signing_key`),
   and the signature is the hex HMAC-SHA256 of the string to sign;
4. ``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<scope>, SignedHeaders=..., Signature=``.

Two facts that break naive clients: the signed ``Content-Type`` must be byte-identical to the
header sent (a library that appends ``; charset=utf-8`` breaks it), and the date is the UTC
date of the timestamp, never the local one (00:30 in Beijing is still yesterday in UTC).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

ALGORITHM: Final = "TC3-HMAC-SHA256"
SIGNED_HEADERS: Final = "content-type;host"
#: Tencent refuses a timestamp more than five minutes from its own clock.
MAX_SKEW_S: Final = 300

_AUTHORIZATION: Final = re.compile(
    rf"^{ALGORITHM} Credential=([^/\s]+)/(\d{{4}}-\d{{2}}-\d{{2}})/([a-z0-9]+)/tc3_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$"
)


def hashed_payload(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def canonical_headers(headers: Mapping[str, str]) -> str:
    """``key:value\\n`` per header, keys and values lowercased and trimmed, sorted by key."""
    lines = sorted((k.strip().lower(), v.strip().lower()) for k, v in headers.items())
    return "".join(f"{k}:{v}\n" for k, v in lines)


def canonical_request(
    *,
    canonical_headers: str,
    payload: bytes,
    signed_headers: str = SIGNED_HEADERS,
    method: str = "POST",
    query: str = "",
) -> str:
    """Step 1: the request as the signature sees it."""
    return "\n".join(
        (method, "/", query, canonical_headers, signed_headers, hashed_payload(payload))
    )


def utc_date(timestamp: int) -> str:
    """The credential-scope date: UTC, never local."""
    return _utc_day(timestamp // 86_400)


@functools.lru_cache(maxsize=8)
def _utc_day(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")


def credential_scope(timestamp: int, service: str) -> str:
    return f"{utc_date(timestamp)}/{service}/tc3_request"


def string_to_sign(timestamp: int, service: str, canonical: str) -> str:
    """Step 2: what the derived key signs."""
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{credential_scope(timestamp, service)}\n{digest}"


@functools.lru_cache(maxsize=64)
def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """Step 3a: the key of one UTC day and service (cached: it changes once a day)."""
    secret_date = _hmac(("TC3" + secret_key).encode(), date)
    return _hmac(_hmac(secret_date, service), "tc3_request")


def tc3_signature(
    secret_key: str,
    *,
    service: str,
    timestamp: int,
    canonical_headers: str,
    payload: bytes,
    signed_headers: str = SIGNED_HEADERS,
    method: str = "POST",
    query: str = "",
) -> str:
    """Steps 1–3: the hex signature of one request."""
    canonical = canonical_request(
        canonical_headers=canonical_headers,
        payload=payload,
        signed_headers=signed_headers,
        method=method,
        query=query,
    )
    key = tc3_signing_key(secret_key, utc_date(timestamp), service)
    message = string_to_sign(timestamp, service, canonical).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def authorization(
    secret_id: str,
    signature: str,
    *,
    service: str,
    timestamp: int,
    signed_headers: str = SIGNED_HEADERS,
) -> str:
    """Step 4: the ``Authorization`` header value."""
    return (
        f"{ALGORITHM} Credential={secret_id}/{credential_scope(timestamp, service)}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


@dataclass(frozen=True, slots=True)
class Credential:
    """The parts of an ``Authorization`` header."""

    secret_id: str
    date: str
    service: str
    signed_headers: str
    signature: str


def parse_authorization(value: str) -> Credential | None:
    match = _AUTHORIZATION.match(value)
    return Credential(*match.groups()) if match else None


def verify(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    now: float,
    method: str = "POST",
    query: str = "",
) -> str | None:
    """Check a received request as Tencent does: ``None``, or the ``AuthFailure.*`` it answers.

    The signature is recomputed from what arrived (the header bytes and the raw body), so a
    tampered body, a wrong secret or a ``Content-Type`` other than the one signed all fail.
    Header names are matched case-insensitively.
    """
    received = {k.lower(): v for k, v in headers.items()}
    credential = parse_authorization(received.get("authorization", ""))
    if credential is None:
        return "AuthFailure.InvalidAuthorization"
    if credential.secret_id != secret_id:
        return "AuthFailure.SecretIdNotFound"
    try:
        timestamp = int(received.get("x-tc-timestamp", ""))
    except ValueError:
        return "AuthFailure.InvalidAuthorization"
    if abs(now - timestamp) > MAX_SKEW_S:
        return "AuthFailure.SignatureExpire"
    names = credential.signed_headers.split(";")
    if (
        credential.service != service
        or credential.date != utc_date(timestamp)
        or not {"content-type", "host"} <= set(names)
    ):
        return "AuthFailure.SignatureFailure"
    expected = tc3_signature(
        secret_key,
        service=service,
        timestamp=timestamp,
        canonical_headers=canonical_headers({n: received.get(n, "") for n in names}),
        payload=body,
        signed_headers=credential.signed_headers,
        method=method,
        query=query,
    )
    if not hmac.compare_digest(expected, credential.signature):
        return "AuthFailure.SignatureFailure"
    return None


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()
