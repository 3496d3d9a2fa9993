"""Building blocks of config.yaml's sections (the frozen base every section derives from, the
checked URL type) and the core's own sections: ``hub:`` (time zone, data folder), ``logging:``
and ``calendar:`` (the admin-entered working-day calendar). Pure pydantic data; the loader
(:mod:`hub.app.config`) composes every package's sections into the app's settings.

Every feature package and every channel owns the class of its own section and builds it from
these, so a problem in any section is reported the same way (file, dotted key and line).
"""

from __future__ import annotations

import ipaddress
import socket
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from hub.core.workdays import year_calendar_problems


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


class HubSettings(FrozenSettings):
    """``hub:``: the deployment's time zone and where it keeps its data."""

    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("var")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The time zone every local date and time of the hub is in."""
        return ZoneInfo(self.timezone)


class LoggingSettings(FrozenSettings):
    """``logging:``: the level, and JSON lines instead of the console format."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_output: bool = Field(default=False, alias="json")


class YearCalendar(FrozenSettings):
    """An admin-entered calendar for any year; its days override chinese-calendar day by day
    (a year chinese-calendar does not cover is counted Mon–Fri, provisionally, without one)."""

    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()


class CalendarSettings(FrozenSettings):
    """``calendar:``: admin-entered years, by year (checked day by day when loaded)."""

    years: dict[int, YearCalendar] = Field(default_factory=dict)

    @field_validator("years")
    @classmethod
    def _years_are_consistent(cls, years: dict[int, YearCalendar]) -> dict[int, YearCalendar]:
        for year, entered in years.items():
            problems = year_calendar_problems(year, entered)
            if problems:
                raise ValueError("；".join(problems))
        return years
