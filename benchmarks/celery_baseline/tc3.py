"""Tencent Cloud API 3.0 request signing (TC3-HMAC-SHA256), as a team writes it from Tencent's docs.

The baseline's own copy, not the hub's (``channels.sms.tencent_tc3``): a Celery team would copy
the documented steps, or the SDK's ``sign_tc3``, into its project. Same algorithm: canonical
request -> string to sign -> key derived from the secret, the UTC date and the service ->
``Authorization`` header. The ``Content-Type`` and ``Host`` signed are the bytes sent.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SERVICE = "sms"
VERSION = "2021-01-11"
REGION = "ap-guangzhou"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


class Tc3Signer:
    """Signs ``SendSms`` calls for one SecretId/SecretKey and host; the day's key is cached."""

    def __init__(self, secret_id: str, secret_key: str, host: str) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.host = host
        self._day = ""
        self._key = b""

    def _signing_key(self, date: str) -> bytes:
        if date != self._day:
            secret_date = _hmac(("TC3" + self.secret_key).encode(), date)
            self._key = _hmac(_hmac(secret_date, SERVICE), "tc3_request")
            self._day = date
        return self._key

    def headers(self, body: bytes, action: str = "SendSms") -> dict[str, str]:
        """The signed headers of one POST of ``body`` (the exact bytes sent)."""
        timestamp = int(time.time())
        date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
        canonical = "\n".join(
            (
                "POST",
                "/",
                "",
                f"content-type:{CONTENT_TYPE}\nhost:{self.host}\n",
                "content-type;host",
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{date}/{SERVICE}/tc3_request"
        to_sign = "\n".join(
            (ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        signature = hmac.new(self._signing_key(date), to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Authorization": f"{ALGORITHM} Credential={self.secret_id}/{scope}, "
            f"SignedHeaders=content-type;host, Signature={signature}",
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": action,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": REGION,
        }
