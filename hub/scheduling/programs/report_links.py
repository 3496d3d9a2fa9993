"""Links to the credit report page ``/reports/credit/{token}``: signed, expiring, no login.

Nothing is stored per link. A token is 11 bytes saying which report it opens (the enterprise's
id, the half-year) and until when, followed by the first 16 bytes (128 bits) of their
HMAC-SHA256 under the link secret, all base64url: 36 characters. The page recomputes the MAC
(constant-time compare) and reads the expiry from the checked payload; a token that does not
verify is unknown. Without the secret nobody can make a token, and a token names one
enterprise's one report only.

The secret comes from the environment (:data:`SECRET_ENV`), never from a file: the scheduler
that signs and the web server that verifies read the same variable. Changing it makes every
link out there unknown (the enterprise asks again; nothing else depends on old links).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from hub.core.errors import ConfigError

__all__ = ["PATH_PREFIX", "SECRET_ENV", "ReportLinks", "ReportTicket"]

#: The environment variable that holds the link secret (at least :data:`MIN_SECRET` characters).
SECRET_ENV: Final = "HUB_LINK_SECRET"
MIN_SECRET: Final = 32
PATH_PREFIX: Final = "/reports/credit/"
_ENVIRONMENT: Final = "环境变量"  # where ConfigError says the problem is
_PAYLOAD: Final = struct.Struct(">IHBI")  # enterprise id, year, half (1|2), expiry (unix s)
_MAC_BYTES: Final = 16
# base64url of the 27 bytes: 36 characters, no padding
_TOKEN: Final = re.compile(rf"[A-Za-z0-9_-]{{{4 * ((_PAYLOAD.size + _MAC_BYTES + 2) // 3)}}}")


@dataclass(frozen=True, slots=True)
class ReportTicket:
    """What a verified token opens: one enterprise's report of one half-year, until when."""

    enterprise_id: int
    year: int
    half: int
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class ReportLinks:
    """Makes and checks report tokens with one secret; builds the page's URL."""

    def __init__(self, secret: str, public_base_url: str) -> None:
        if len(secret) < MIN_SECRET:
            raise ConfigError(
                f"报告链接密钥过短，至少 {MIN_SECRET} 个字符"
                "（例如 python -c 'import secrets; print(secrets.token_urlsafe(32))' 的输出）",
                file=_ENVIRONMENT, key=SECRET_ENV,
            )  # fmt: skip
        self._key = secret.encode()
        self.public_base_url = public_base_url.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], public_base_url: str) -> ReportLinks:
        """The links of the secret in ``environ``; ConfigError naming the variable if unset."""
        secret = environ.get(SECRET_ENV, "")
        if not secret:
            raise ConfigError(
                f"未设置：信用报告页面的链接需要用它签名（至少 {MIN_SECRET} 个字符）",
                file=_ENVIRONMENT, key=SECRET_ENV,
            )  # fmt: skip
        return cls(secret, public_base_url)

    def token(self, ticket: ReportTicket) -> str:
        """The token of ``ticket``: the same ticket always gives the same token."""
        expires = int(ticket.expires_at.timestamp())
        payload = _PAYLOAD.pack(ticket.enterprise_id, ticket.year, ticket.half, expires)
        return base64.urlsafe_b64encode(payload + self._mac(payload)).decode()

    def url(self, ticket: ReportTicket) -> str:
        """The page's address for ``ticket``."""
        return f"{self.public_base_url}{PATH_PREFIX}{self.token(ticket)}"

    def verify(self, token: str) -> ReportTicket | None:
        """The ticket a genuine token opens (expired or not), None for anything else."""
        if not _TOKEN.fullmatch(token):
            return None
        raw = base64.urlsafe_b64decode(token)
        payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
        if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        enterprise_id, year, half, expires = _PAYLOAD.unpack(payload)
        if half not in (1, 2):
            return None
        return ReportTicket(enterprise_id, year, half, datetime.fromtimestamp(expires, UTC))

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
