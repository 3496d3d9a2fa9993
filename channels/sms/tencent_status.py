"""Tencent Cloud SMS ``PullSmsSendStatusByPhoneNumber`` (2021-01-11): did Tencent take a message?

The dispatcher asks when a worker died during a ``SendSms`` call and the outcome is unknown
(neither Tencent nor Aliyun dedupes a repeated send). Pure core: :func:`build_status_query`
signs one page of a number's status reports since the send (``BeginTime``/``EndTime`` epoch
seconds, ``Offset``/``Limit`` ≤ 100, ``PhoneNumber`` in E.164, ``SmsSdkAppId``),
:func:`parse_status_page` reads ``PullSmsSendStatusSet`` (``SerialNo``, ``PhoneNumber``,
``UserReceiveTime``, ``ReportStatus`` SUCCESS|FAIL, ``Description``, ``SessionContext``), and
:func:`answer_for` decides: a record for the number whose ``SessionContext`` holds the message
id (:func:`channels.base.send_context`) means taken; Tencent lists a message only once its
carrier reported it, so one still absent ``settle_s`` after the send was never taken.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from channels.base import ChannelError, ProbeAnswer, RetryableError, SendProbe, Verdict, context_ids
from channels.sms.http_client import HttpClient, HttpError
from channels.sms.settings import TencentSmsSettings
from channels.sms.tencent import classify_error, e164, signed_call
from hub.core.clock import Clock

STATUS_ACTION: Final = "PullSmsSendStatusByPhoneNumber"
#: Status records per page (Tencent's maximum).
STATUS_PAGE: Final = 100
#: Pages read per probe: a number's reports over the minutes since the send.
MAX_PAGES: Final = 10


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One status report Tencent holds for a number (``UserReceiveTime`` as epoch seconds)."""

    serial_no: str
    phone_number: str
    session_context: str
    report_status: str  # SUCCESS | FAIL
    description: str
    received_at: int


def build_status_query(
    probe: SendProbe, settings: TencentSmsSettings, now: datetime, *, offset: int = 0
) -> tuple[dict[str, str], bytes]:
    """Signed headers and body of one page of a number's status reports since the send."""
    payload = {
        # A minute either side: Tencent's clock and ours need not agree to the second.
        "BeginTime": int(probe.since.timestamp()) - 60,
        "EndTime": int(now.timestamp()) + 60,
        "Offset": offset,
        "Limit": STATUS_PAGE,
        "PhoneNumber": e164(probe.address),
        "SmsSdkAppId": settings.required("sdk_app_id"),
    }
    return signed_call(STATUS_ACTION, payload, settings, int(now.timestamp()))


def parse_status_page(status: int, body: bytes, *, now: datetime) -> list[StatusRecord]:
    """The records of one status page; a refused or unreadable answer raises ChannelError."""
    if status != 200:
        raise RetryableError(f"腾讯云短信状态查询返回 HTTP {status}", code=f"HTTP{status}")
    try:
        reply = json.loads(body)["Response"]
        if not isinstance(reply, dict):
            raise TypeError("Response is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise RetryableError(f"腾讯云短信状态应答无法解析：{exc}", code="BadResponse") from exc
    if "Error" in reply:
        err = reply["Error"] if isinstance(reply["Error"], dict) else {}
        raise classify_error(str(err.get("Code", "")), str(err.get("Message", "")), now)
    records: list[StatusRecord] = []
    for item in reply.get("PullSmsSendStatusSet") or []:
        if not isinstance(item, dict):
            continue
        records.append(
            StatusRecord(
                serial_no=str(item.get("SerialNo") or ""),
                phone_number=e164(str(item.get("PhoneNumber") or "")),
                session_context=str(item.get("SessionContext") or ""),
                report_status=str(item.get("ReportStatus") or ""),
                description=str(item.get("Description") or ""),
                received_at=int(item.get("UserReceiveTime") or 0),
            )
        )
    return records


def answer_for(
    probe: SendProbe, records: Sequence[StatusRecord], now: datetime, settle_s: float
) -> ProbeAnswer:
    """Did Tencent take the probed message? Its id in a record's SessionContext says yes;
    no such record ``settle_s`` after the send says it never did; before that, unknown."""
    number = e164(probe.address)
    for record in records:
        if record.phone_number == number and probe.message_id in context_ids(
            record.session_context
        ):
            delivered = record.report_status == "SUCCESS"
            detail = "" if delivered else f"{record.report_status} {record.description}".strip()
            return ProbeAnswer(
                probe.message_id, Verdict.TAKEN, record.serial_no or None, delivered, detail
            )
    waited = (now - probe.since).total_seconds()
    if waited >= settle_s:
        return ProbeAnswer(probe.message_id, Verdict.NOT_TAKEN,
                           detail=f"发送 {waited:.0f} 秒后腾讯云仍无该号码的此条记录")  # fmt: skip
    return ProbeAnswer(probe.message_id, Verdict.UNKNOWN,
                       detail=f"腾讯云尚未返回状态报告（发送后 {waited:.0f} 秒）")  # fmt: skip


async def query_status(
    http: HttpClient, url: str, config: TencentSmsSettings, clock: Clock,
    probes: Sequence[SendProbe], *, settle_s: float, timeout_s: float,
) -> list[ProbeAnswer]:  # fmt: skip
    """Ask Tencent about each probe, concurrently; a failed query answers UNKNOWN."""

    async def probe_one(probe: SendProbe) -> ProbeAnswer:
        records: list[StatusRecord] = []
        try:
            for page in range(MAX_PAGES):

                def sign(offset: int = page * STATUS_PAGE) -> tuple[Mapping[str, str], bytes]:
                    return build_status_query(probe, config, clock.now(), offset=offset)

                response = await http.post_built(url, sign, timeout_s=timeout_s)
                found = parse_status_page(response.status, response.body, now=clock.now())
                records.extend(found)
                if len(found) < STATUS_PAGE:
                    break
        except (HttpError, TimeoutError, ChannelError) as exc:
            detail = f"腾讯云短信状态查询失败：{type(exc).__name__} {exc}"
            return ProbeAnswer(probe.message_id, Verdict.UNKNOWN, detail=detail)
        return answer_for(probe, records, clock.now(), settle_s)

    return list(await asyncio.gather(*(probe_one(p) for p in probes)))
