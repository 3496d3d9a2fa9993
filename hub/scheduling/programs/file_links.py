"""Download links to produced report files ``/reports/files/{token}``: signed, expiring, no login.

The ledger and the work report are files under ``data_dir/reports/``; the business office gets
a link to one in a WeCom (or SMS) notice. Nothing is stored per link: a token is the file's name
and an expiry, followed by the first 12 bytes (96 bits) of their HMAC-SHA256 under the link secret
(``HUB_LINK_SECRET``, the one the credit report links use; :mod:`.report_links`), base64url.
The MAC is taken over a domain tag as well, so a credit report token can never pass as a file
token nor the reverse. A token names one file by its bare name (``ledger-2027-01.xlsx``): no
folder, no ``..``; the route resolves it under the reports folder only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from hub.scheduling.programs.report_links import SECRET_ENV, ReportLinks

__all__ = ["FILE_PATH_PREFIX", "FileLinks", "FileTicket", "safe_file_name"]

FILE_PATH_PREFIX: Final = "/reports/files/"
_DOMAIN: Final = b"hub-report-file\x00"
_EXPIRY: Final = struct.Struct(">I")
_MAC_BYTES: Final = 12  # 96 bits (HMAC-SHA256-96): the URL must fit an SMS parameter
# A report file's bare name: letters, digits, dot, dash, underscore; not hidden, not "..".
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{20,200}")


def safe_file_name(name: str) -> bool:
    """True for a bare file name a link may name (no folder, no parent, not hidden)."""
    return bool(_NAME.fullmatch(name)) and ".." not in name


@dataclass(frozen=True, slots=True)
class FileTicket:
    """What a verified token opens: one file of the reports folder, until when."""

    name: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class FileLinks:
    """Makes and checks file tokens with the link secret; builds the download URL."""

    def __init__(self, secret: str, public_base_url: str) -> None:
        ReportLinks(secret, public_base_url)  # the same rule for the secret (length), same error
        self._key = secret.encode()
        self.public_base_url = public_base_url.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], public_base_url: str) -> FileLinks:
        """The links of the secret in ``environ``; ConfigError naming the variable if unset."""
        checked = ReportLinks.from_env(environ, public_base_url)
        return cls(environ[SECRET_ENV], checked.public_base_url)

    def token(self, ticket: FileTicket) -> str:
        """The token of ``ticket``; ValueError for a name no link may carry."""
        if not safe_file_name(ticket.name):
            raise ValueError(f"not a bare report file name: {ticket.name!r}")
        payload = _EXPIRY.pack(int(ticket.expires_at.timestamp())) + ticket.name.encode()
        return base64.urlsafe_b64encode(payload + self._mac(payload)).decode().rstrip("=")

    def url(self, ticket: FileTicket) -> str:
        """The download address of ``ticket``."""
        return f"{self.public_base_url}{FILE_PATH_PREFIX}{self.token(ticket)}"

    def verify(self, token: str) -> FileTicket | None:
        """The ticket a genuine token opens (expired or not), None for anything else."""
        if not _TOKEN.fullmatch(token):
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(payload) <= _EXPIRY.size or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        (expires,) = _EXPIRY.unpack(payload[: _EXPIRY.size])
        try:
            name = payload[_EXPIRY.size :].decode()
        except UnicodeDecodeError:
            return None
        if not safe_file_name(name):
            return None
        return FileTicket(name, datetime.fromtimestamp(expires, UTC))

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _DOMAIN + payload, hashlib.sha256).digest()[:_MAC_BYTES]
