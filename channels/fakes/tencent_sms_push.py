"""What Tencent Cloud SMS pushes to a customer's callback URLs, built and POSTed like Tencent.

Two callbacks, configured in Tencent's console, both JSON over HTTP POST, both answered with
``{"result": 0, "errmsg": "OK"}`` (anything else and Tencent retries):

- delivery receipts (短信下发状态通知): a JSON **array**, one object per message, fields
  ``user_receive_time`` ("YYYY-MM-DD HH:MM:SS", Beijing time), ``nationcode``, ``mobile``
  (national number), ``report_status`` (``SUCCESS`` | ``FAIL``), ``errmsg`` (``DELIVRD`` or
  the operator's code), ``description`` and ``sid`` (the ``SerialNo`` ``SendSms`` returned);
- replies (短信回复): one JSON **object**, ``mobile``, ``nationcode``, ``text``, ``sign`` (the
  signature name of the message replied to), ``time`` (Unix seconds) and ``extend``.

Neither is signed: the receiving end can only check the URL's secret path segment and the
source address. Use in tests and drills::

    reports = reports_for(fake.received[0], at=now, failed={"+8613900000002": "002"})
    answer = await push_status(session, f"{hub}/webhooks/sms/tencent/{secret}/status", reports)
    answer = await push_reply(session, f"{hub}/webhooks/sms/tencent/{secret}/reply",
                              reply_event("+8613900000001", "5", at=now, sign="主动服务"))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import aiohttp

from channels.fakes.tencent_sms import ReceivedSms
from hub.core.clock import SHANGHAI

JSON_HEADERS: Final = {"Content-Type": "application/json"}
# What Tencent puts in ``errmsg``/``description`` (回执状态错误码); FAIL uses the operator's code.
DELIVERED: Final = ("DELIVRD", "用户短信送达成功")
FAIL_DESCRIPTIONS: Final = {
    "002": "关机/停机/无法接通手机/不在服务区",
    "-106": "运营商关键字拦截",
}


def national(number: str) -> tuple[str, str]:
    """``(nationcode, mobile)`` as Tencent writes them: ``+8613900000001`` → ``86``, ``139…``."""
    if number.startswith("+86"):
        return "86", number[3:]
    return number.lstrip("+")[:-11] or "86", number[-11:]


def status_report(
    sid: str,
    number: str,
    *,
    at: datetime,
    delivered: bool = True,
    errmsg: str = "002",
    description: str | None = None,
) -> dict[str, str]:
    """One element of the receipt array for the message ``sid`` sent to ``number`` (E.164)."""
    nationcode, mobile = national(number)
    code, text = DELIVERED if delivered else (errmsg, FAIL_DESCRIPTIONS.get(errmsg, "发送失败"))
    return {
        "user_receive_time": at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "nationcode": nationcode,
        "mobile": mobile,
        "report_status": "SUCCESS" if delivered else "FAIL",
        "errmsg": code,
        "description": description if description is not None else text,
        "sid": sid,
    }


def reports_for(
    received: ReceivedSms, *, at: datetime, failed: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """Receipts for every number the fake accepted in one request; ``failed``: number -> code."""
    failed = failed or {}
    return [
        status_report(
            sid, number, at=at, delivered=number not in failed, errmsg=failed.get(number, "")
        )
        for number, sid in zip(received.phone_numbers, received.serial_nos, strict=True)
        if sid
    ]


def reply_event(
    number: str, text: str, *, at: datetime | int, sign: str, extend: str = ""
) -> dict[str, Any]:
    """The reply object Tencent posts when ``number`` (E.164) answers with ``text``."""
    nationcode, mobile = national(number)
    return {
        "extend": extend,
        "mobile": mobile,
        "nationcode": nationcode,
        "sign": sign,
        "text": text,
        "time": at if isinstance(at, int) else int(at.timestamp()),
    }


@dataclass(frozen=True, slots=True)
class PushAnswer:
    """What the callback URL answered."""

    status: int
    body: Any  # parsed JSON, or the raw text when it is not JSON


async def push_status(
    session: aiohttp.ClientSession, url: str, reports: Sequence[Mapping[str, str]]
) -> PushAnswer:
    """POST a receipt array to ``url`` as Tencent does."""
    return await _post(session, url, list(reports))


async def push_reply(
    session: aiohttp.ClientSession, url: str, reply: Mapping[str, Any]
) -> PushAnswer:
    """POST one reply object to ``url`` as Tencent does."""
    return await _post(session, url, dict(reply))


async def _post(session: aiohttp.ClientSession, url: str, payload: Any) -> PushAnswer:
    body = json.dumps(payload, ensure_ascii=False).encode()
    async with session.post(url, data=body, headers=JSON_HEADERS) as response:
        text = await response.text()
    try:
        answer: Any = json.loads(text)
    except ValueError:
        answer = text
    return PushAnswer(response.status, answer)
