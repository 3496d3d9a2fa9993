"""Aliyun SMS ``QuerySendDetails`` (dysmsapi 2017-05-25): did Aliyun take a message?

The dispatcher asks when a worker died during a ``SendSms``/``SendBatchSms`` call and the
outcome is unknown (neither Aliyun nor Tencent dedupes a repeated send). Pure core:
:func:`build_status_query` signs one page of a number's sends on one day (``PhoneNumber``,
``SendDate`` yyyyMMdd in Beijing time, ``PageSize`` ≤ 50, ``CurrentPage`` from 1),
:func:`parse_status_page` reads ``SmsSendDetailDTOs.SmsSendDetailDTO`` (``PhoneNum``,
``SendStatus`` 1 waiting for the receipt / 2 failed / 3 delivered, ``ErrCode``, ``OutId``,
``SendDate``, ``ReceiveDate``, ``Content``, ``TemplateCode``) and ``TotalCount``, and
:func:`answer_for` decides: a record whose ``OutId`` is the message id means taken. A
``SendBatchSms`` carries no ``OutId``: a record without one, for the number, sent since the
probed send began, is taken to be it (another batch send to the same number within the same
minutes would be mistaken for it). Aliyun lists a send as soon as it took it, so one absent
``settle_s`` after the send was never taken. The records carry no ``BizId``: a message resolved
this way is recorded without a provider message id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from channels.base import ChannelError, ProbeAnswer, RetryableError, SendProbe, Verdict, context_ids
from channels.sms.aliyun import (
    CONTENT_TYPE,
    REGION_ID,
    VERSION,
    classify_error,
    national_number,
)
from channels.sms.aliyun_sign import form_body, signed_params
from channels.sms.http_client import HttpClient, HttpError
from channels.sms.settings import AliyunSmsSettings
from hub.core.clock import SHANGHAI, Clock

STATUS_ACTION: Final = "QuerySendDetails"
#: Records per page (Aliyun's maximum).
PAGE_SIZE: Final = 50
#: Pages read per probe and day.
MAX_PAGES: Final = 10
_WAITING, _FAILED, _DELIVERED = 1, 2, 3
# Aliyun's clock and ours need not agree to the second.
_SKEW: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SendDetail:
    """One send Aliyun holds for a number (``send_status``: 1 waiting, 2 failed, 3 delivered)."""

    phone_number: str
    send_status: int
    err_code: str
    out_id: str
    send_date: str


def send_dates(since: datetime, now: datetime) -> list[date]:
    """The Beijing days from the send to now (a send at 23:59 may be listed the next day)."""
    first, last = since.astimezone(SHANGHAI).date(), now.astimezone(SHANGHAI).date()
    days = [first]
    while days[-1] < last and len(days) < 3:
        days.append(date.fromordinal(days[-1].toordinal() + 1))
    return days


def build_status_query(
    probe: SendProbe, day: date, config: AliyunSmsSettings, now: datetime, nonce: str,
    *, page: int = 1,
) -> tuple[dict[str, str], bytes]:  # fmt: skip
    """Headers and form body of one signed ``QuerySendDetails`` page."""
    params = signed_params(
        {
            "PhoneNumber": national_number(probe.address),
            "SendDate": f"{day:%Y%m%d}",
            "PageSize": str(PAGE_SIZE),
            "CurrentPage": str(page),
        },
        access_key_id=config.required("access_key_id"),
        access_key_secret=config.required("access_key_secret"),
        action=STATUS_ACTION,
        version=VERSION,
        region_id=REGION_ID,
        at=now,
        nonce=nonce,
    )
    return {"Content-Type": CONTENT_TYPE, "Accept": "application/json"}, form_body(params)


def parse_status_page(status: int, body: bytes, *, now: datetime) -> tuple[list[SendDetail], int]:
    """The records of one page and ``TotalCount``; a refused or unreadable answer raises."""
    try:
        answer: Any = json.loads(body)
        if not isinstance(answer, dict) or "Code" not in answer:
            raise TypeError("no Code in the answer")
    except (ValueError, TypeError) as exc:
        raise RetryableError(
            f"无法解析阿里云短信状态查询应答 HTTP {status}: {exc}", code="BadResponse"
        ) from exc
    code = str(answer.get("Code") or "")
    if code != "OK":
        raise classify_error(code, str(answer.get("Message") or ""), now, status)
    dtos = answer.get("SmsSendDetailDTOs") or {}
    items = dtos.get("SmsSendDetailDTO") if isinstance(dtos, dict) else None
    details = [
        SendDetail(
            phone_number=national_number(str(item.get("PhoneNum") or "")),
            send_status=int(item.get("SendStatus") or 0),
            err_code=str(item.get("ErrCode") or ""),
            out_id=str(item.get("OutId") or ""),
            send_date=str(item.get("SendDate") or ""),
        )
        for item in (items or [])
        if isinstance(item, dict)
    ]
    return details, int(answer.get("TotalCount") or 0)


def answer_for(
    probe: SendProbe, details: Sequence[SendDetail], now: datetime, settle_s: float
) -> ProbeAnswer:
    """Did Aliyun take the probed message? Its id in a record's ``OutId`` says yes; no such
    record ``settle_s`` after the send says it never did; before that, unknown."""
    number = national_number(probe.address)
    earliest = f"{(probe.since - _SKEW).astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}"
    for detail in details:
        if detail.phone_number != number:
            continue
        ours = probe.message_id in context_ids(detail.out_id)
        batch = not detail.out_id and detail.send_date >= earliest
        if ours or batch:
            delivered = {_DELIVERED: True, _FAILED: False}.get(detail.send_status)
            text = "" if delivered is not False else f"{detail.err_code}".strip()
            return ProbeAnswer(probe.message_id, Verdict.TAKEN, None, delivered, text)
    waited = (now - probe.since).total_seconds()
    if waited >= settle_s:
        return ProbeAnswer(probe.message_id, Verdict.NOT_TAKEN,
                           detail=f"发送 {waited:.0f} 秒后阿里云仍无该号码的此条记录")  # fmt: skip
    return ProbeAnswer(probe.message_id, Verdict.UNKNOWN,
                       detail=f"阿里云尚未列出该条发送（发送后 {waited:.0f} 秒）")  # fmt: skip


async def query_status(
    http: HttpClient, url: str, config: AliyunSmsSettings, clock: Clock, nonce: Callable[[], str],
    probes: Sequence[SendProbe], *, settle_s: float, timeout_s: float,
) -> list[ProbeAnswer]:  # fmt: skip
    """Ask Aliyun about each probe, concurrently; a failed query answers UNKNOWN."""

    async def probe_one(probe: SendProbe) -> ProbeAnswer:
        details: list[SendDetail] = []
        try:
            for day in send_dates(probe.since, clock.now()):
                for page in range(1, MAX_PAGES + 1):

                    def sign(p: int = page, d: date = day) -> tuple[Mapping[str, str], bytes]:
                        return build_status_query(probe, d, config, clock.now(), nonce(), page=p)

                    response = await http.post_built(url, sign, timeout_s=timeout_s)
                    found, total = parse_status_page(
                        response.status, response.body, now=clock.now()
                    )
                    details.extend(found)
                    if not found or page * PAGE_SIZE >= total:
                        break
        except (HttpError, TimeoutError, ChannelError) as exc:
            detail = f"阿里云短信状态查询失败：{type(exc).__name__} {exc}"
            return ProbeAnswer(probe.message_id, Verdict.UNKNOWN, detail=detail)
        return answer_for(probe, details, clock.now(), settle_s)

    return list(await asyncio.gather(*(probe_one(p) for p in probes)))
