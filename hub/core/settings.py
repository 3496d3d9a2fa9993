"""Building blocks of config.yaml's sections: the frozen base every section derives from and the
checked URL type. Pure pydantic data; the loader (:mod:`hub.app.config`) composes the sections.

Every feature package and every channel owns the class of its own section and builds it from
these, so a problem in any section is reported the same way (file, dotted key and line).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict


class FrozenSettings(BaseModel):
    """A config.yaml section: read-only once loaded, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _web_url(value: str) -> str:
    """An http(s) URL with a host that is not a link-local (cloud metadata) address.

    Loopback stays allowed: tests and drills aim the channels at the fakes on 127.0.0.1.
    Only literal addresses can be checked here; a name is resolved when it is used.
    """
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"不是有效的 http(s) 地址：{value!r}") from exc
    if parts.scheme not in ("http", "https") or any(c.isspace() for c in value.strip()):
        raise ValueError(f"只能是 http:// 或 https:// 地址，而不是 {value!r}")
    if not host:
        raise ValueError(f"地址缺少主机名：{value!r}")
    address = _literal_address(host)
    if address is not None and address.is_link_local:
        raise ValueError(f"不能指向链路本地地址 {host}（云主机元数据服务所在）")
    return value


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names literally, in any form a resolver accepts (2852039166, 0xa9.…)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


#: An http(s) address a channel or a link may point at (never a link-local metadata address).
WebUrl = Annotated[str, AfterValidator(_web_url)]
