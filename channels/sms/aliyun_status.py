"""Aliyun SMS ``QuerySendDetails`` (dysmsapi 2017-05-25): did Aliyun take a message?

The dispatcher asks when a worker died during a ``SendSms``/``SendBatchSms`` call and the
outcome is unknown (neither Aliyun nor Tencent dedupes a repeated send); :class:`AliyunStatusQuery`
is what the SMS channel base (:mod:`channels.sms.base`) reads pages with. Pure core:
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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from channels.base import ProbeAnswer, SendProbe, Verdict, context_ids
from channels.sms.aliyun import national_number, read_answer, signed_call
from channels.sms.base import absent_answer
from channels.sms.settings import AliyunSmsSettings
from hub.core.clock import SHANGHAI

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
    params = {
        "PhoneNumber": national_number(probe.address),
        "SendDate": f"{day:%Y%m%d}",
        "PageSize": str(PAGE_SIZE),
        "CurrentPage": str(page),
    }
    return signed_call(STATUS_ACTION, params, config, now, nonce)


def parse_status_page(status: int, body: bytes, *, now: datetime) -> tuple[list[SendDetail], int]:
    """The records of one page and ``TotalCount``; a refused or unreadable answer raises."""
    answer = read_answer(status, body, now, what="状态查询")
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
    return absent_answer(probe, now, settle_s, provider="阿里云", pending="尚未列出该条发送")


@dataclass(frozen=True, slots=True)
class AliyunStatusQuery:
    """The status query of :class:`channels.sms.base.StatusQuery` for Aliyun: for each Beijing
    day since the send, pages of the number's sends until ``TotalCount`` is read."""

    settings: AliyunSmsSettings
    nonce: Callable[[], str]

    def pages(self, probe: SendProbe, now: datetime) -> Iterable[Iterable[tuple[date, int]]]:
        return [
            [(day, page) for page in range(1, MAX_PAGES + 1)]
            for day in send_dates(probe.since, now)
        ]

    def request(
        self, probe: SendProbe, page: tuple[date, int], now: datetime
    ) -> tuple[dict[str, str], bytes]:
        day, number = page
        return build_status_query(probe, day, self.settings, now, self.nonce(), page=number)

    def read(
        self, status: int, body: bytes, page: tuple[date, int], now: datetime
    ) -> tuple[list[SendDetail], bool]:
        found, total = parse_status_page(status, body, now=now)
        return found, bool(found) and page[1] * PAGE_SIZE < total

    def answer(
        self, probe: SendProbe, records: Sequence[SendDetail], now: datetime, settle_s: float
    ) -> ProbeAnswer:
        return answer_for(probe, records, now, settle_s)
