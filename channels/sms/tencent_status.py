"""Tencent Cloud SMS ``PullSmsSendStatusByPhoneNumber`` (2021-01-11): did Tencent take a message?

The dispatcher asks when a worker died during a ``SendSms`` call and the outcome is unknown
(neither Tencent nor Aliyun dedupes a repeated send); :class:`TencentStatusQuery` is what the
SMS channel base (:mod:`channels.sms.base`) reads pages with. Pure core: :func:`build_status_query`
signs one page of a number's status reports since the send (``BeginTime``/``EndTime`` epoch
seconds, ``Offset``/``Limit`` ≤ 100, ``PhoneNumber`` in E.164, ``SmsSdkAppId``),
:func:`parse_status_page` reads ``PullSmsSendStatusSet`` (``SerialNo``, ``PhoneNumber``,
``UserReceiveTime``, ``ReportStatus`` SUCCESS|FAIL, ``Description``, ``SessionContext``), and
:func:`answer_for` decides: a record for the number whose ``SessionContext`` holds the message
id (:func:`channels.base.send_context`) means taken; Tencent lists a message only once its
carrier reported it, so one still absent ``settle_s`` after the send was never taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from channels.base import ProbeAnswer, SendProbe, Verdict, context_ids
from channels.sms.base import absent_answer
from channels.sms.settings import TencentSmsSettings
from channels.sms.tencent import e164, read_reply, signed_call

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
    reply = read_reply(status, body, now, call="状态查询", answer="状态应答")
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
    return absent_answer(probe, now, settle_s, provider="腾讯云", pending="尚未返回状态报告")


@dataclass(frozen=True, slots=True)
class TencentStatusQuery:
    """The status query of :class:`channels.sms.base.StatusQuery` for Tencent: pages of a
    number's reports by ``Offset``, the last one shorter than a full page."""

    settings: TencentSmsSettings

    def pages(self, probe: SendProbe, now: datetime) -> Iterable[Iterable[int]]:
        return (range(0, MAX_PAGES * STATUS_PAGE, STATUS_PAGE),)

    def request(self, probe: SendProbe, page: int, now: datetime) -> tuple[dict[str, str], bytes]:
        return build_status_query(probe, self.settings, now, offset=page)

    def read(
        self, status: int, body: bytes, page: int, now: datetime
    ) -> tuple[list[StatusRecord], bool]:
        found = parse_status_page(status, body, now=now)
        return found, len(found) >= STATUS_PAGE

    def answer(
        self, probe: SendProbe, records: Sequence[StatusRecord], now: datetime, settle_s: float
    ) -> ProbeAnswer:
        return answer_for(probe, records, now, settle_s)
