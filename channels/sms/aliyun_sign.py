"""Aliyun's RPC ("POP") request signature, version 1.0 with HMAC-SHA1, as pure functions.

The steps of Aliyun's "签名机制" for RPC-style APIs (dysmsapi included):

1. every parameter except ``Signature`` — the common ones (``AccessKeyId``, ``Action``,
   ``Format``, ``RegionId``, ``SignatureMethod``, ``SignatureNonce``, ``SignatureVersion``,
   ``Timestamp``, ``Version``) and the action's own — sorted by name, each name and value
   percent-encoded (:func:`percent_encode`) and joined as ``name=value`` with ``&``: the
   canonicalized query string;
2. ``StringToSign = METHOD + "&" + percent_encode("/") + "&" + percent_encode(canonical)``;
3. ``Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``.

The encoding is RFC 3986 over UTF-8: only ``A-Z a-z 0-9 - _ . ~`` stay as they are; a space
is ``%20`` (never ``+``), ``*`` is ``%2A`` and ``~`` is never ``%7E`` — what Java's
``URLEncoder`` gets wrong and Aliyun's examples patch by hand. ``urllib.parse.quote`` with
no extra safe characters does exactly this.

Both the channel (signing) and the loopback fake (verifying) use these functions; the tests
check them against the two vectors Aliyun publishes (SMS ``SendSms`` with secret
``testSecret``, ECS ``DescribeRegions`` with secret ``testsecret``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

SIGNATURE_METHOD: Final = "HMAC-SHA1"
SIGNATURE_VERSION: Final = "1.0"
TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


def percent_encode(text: str) -> str:
    """Aliyun's percent-encoding: RFC 3986 unreserved characters kept, everything else %XY."""
    return quote(text, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """The sorted, encoded ``name=value&…`` of every parameter except ``Signature``."""
    return "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )


def string_to_sign(params: Mapping[str, str], method: str = "POST") -> str:
    """``METHOD&%2F&<encoded canonical query>``."""
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def rpc_signature(secret: str, params: Mapping[str, str], method: str = "POST") -> str:
    """The Base64 HMAC-SHA1 signature of a request's parameters (key: ``secret + "&"``)."""
    digest = hmac.new(
        (secret + "&").encode(), string_to_sign(params, method).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def verify_signature(secret: str, params: Mapping[str, str], method: str = "POST") -> bool:
    """Whether ``params["Signature"]`` is the signature of the other parameters."""
    given = params.get("Signature", "")
    return hmac.compare_digest(given.encode(), rpc_signature(secret, params, method).encode())


def timestamp(at: datetime) -> str:
    """``Timestamp`` as Aliyun wants it: ISO 8601 in UTC, whole seconds, ``Z``."""
    return at.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """The inverse of :func:`timestamp`; ``ValueError`` for anything else."""
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def signed_params(
    action_params: Mapping[str, str],
    *,
    access_key_id: str,
    access_key_secret: str,
    action: str,
    version: str,
    region_id: str,
    at: datetime,
    nonce: str,
    method: str = "POST",
) -> dict[str, str]:
    """Common parameters added to an action's own, and the ``Signature`` over all of them."""
    params = {
        **action_params,
        "AccessKeyId": access_key_id,
        "Action": action,
        "Format": "JSON",
        "RegionId": region_id,
        "SignatureMethod": SIGNATURE_METHOD,
        "SignatureNonce": nonce,
        "SignatureVersion": SIGNATURE_VERSION,
        "Timestamp": timestamp(at),
        "Version": version,
    }
    params["Signature"] = rpc_signature(access_key_secret, params, method)
    return params


def form_body(params: Mapping[str, str]) -> bytes:
    """``application/x-www-form-urlencoded`` bytes of the (signed) parameters."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items()).encode()
