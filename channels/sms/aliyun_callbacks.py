"""Aliyun SMS pushes, parsed (pure): ``SmsReport`` receipts and ``SmsUp`` replies.

Aliyun's HTTP push ("HTTP批量推送模式") POSTs a JSON array of items (one object alone is taken
as an array of one); ``channels.fakes.aliyun_sms`` builds both kinds:

- ``SmsReport``: ``phone_number``, ``biz_id``, ``success``, ``err_code``, ``err_msg``,
  ``report_time`` (Beijing time), ``out_id``... The receipt's id is ``f"{biz_id}:{phone}"``, the
  id the channel recorded (``channels.sms.aliyun``); ``out_id`` names the hub message a
  ``SendSms`` carried, so a send whose id was never recorded is found too. ``MOBILE_IN_BLACK``
  (the number refused our signature) is a receipt that says the recipient opted out.
- ``SmsUp``: ``phone_number``, ``content``, ``sequence_id`` (the reply's id), ``send_time``...

Every item is validated before any is returned: a body that is not that is
:class:`channels.callbacks.CallbackError` naming the item and the field, so nothing of it is
stored. The webhook (``hub.web.webhooks.sms_aliyun``) verifies before it calls these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from channels.base import DeliveryReceipt, InboundReply
from channels.callbacks import CallbackError
from channels.sms.aliyun import OPTED_OUT_CODES, national_number, out_id_message
from channels.sms.payloads import PayloadError, ascii_digits, load_json
from hub.core.clock import SHANGHAI

PROVIDER: Final = "aliyun"
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"  # Beijing time, as Aliyun pushes it


def parse_receipts(body: bytes) -> list[DeliveryReceipt]:
    """The receipts of one ``SmsReport`` push, or :class:`CallbackError`."""
    receipts = []
    for n, item in enumerate(_items(body), start=1):
        fields = _object(item, n)
        number = _phone(fields, n)
        biz_id = _text(fields, "biz_id", n)
        success = fields.get("success")
        if isinstance(success, str) and success.lower() in ("true", "false"):
            success = success.lower() == "true"
        if not isinstance(success, bool):
            raise _bad(n, "success", "须为 true 或 false")
        err_code = _optional_text(fields, "err_code", n)
        err_msg = _optional_text(fields, "err_msg", n)
        receipt = DeliveryReceipt(
            provider=PROVIDER,
            provider_message_id=f"{biz_id}:{number}",
            delivered=success,
            at=_time(fields, "report_time", n),
            error_code="" if success else err_code,
            detail="" if success else err_msg,
            message_id=out_id_message(_out_id(fields, n)),
            recipient=_e164(number),
            opted_out=not success and err_code in OPTED_OUT_CODES,
        )
        receipts.append(receipt)
    return receipts


def parse_reply(body: bytes) -> list[InboundReply]:
    """The replies of one ``SmsUp`` push, or :class:`CallbackError`."""
    replies = []
    for n, item in enumerate(_items(body), start=1):
        fields = _object(item, n)
        number = _phone(fields, n)
        content = fields.get("content")
        if not isinstance(content, str):
            raise _bad(n, "content", "缺失或不是文本")
        sequence_id = fields.get("sequence_id")
        if isinstance(sequence_id, bool) or not isinstance(sequence_id, int | str):
            raise _bad(n, "sequence_id", "缺失或不是数字")
        sequence = str(sequence_id).strip()
        if not ascii_digits(sequence):
            raise _bad(n, "sequence_id", "缺失或不是数字")
        _time(fields, "send_time", n)
        replies.append(
            InboundReply(
                provider=PROVIDER, provider_msg_id=sequence, sender=_e164(number),
                text=content, raw=dict(fields),
            )
        )  # fmt: skip
    return replies


def _items(body: bytes) -> list[Any]:
    try:
        data = load_json(body)
    except PayloadError as exc:
        raise CallbackError(f"{exc} (body)") from None
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list) or not data:
        raise CallbackError("推送内容须为非空 JSON 数组 (body)")
    return data


def _bad(n: int, name: str, reason: str) -> CallbackError:
    return CallbackError(f"第 {n} 条推送的 {name} {reason} ({name})")


def _object(item: Any, n: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise CallbackError(f"第 {n} 条推送不是 JSON 对象 (item)")
    return item


def _phone(fields: dict[str, Any], n: int) -> str:
    """The number as the channel recorded it in the provider message id (11 digits)."""
    raw = fields.get("phone_number")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _bad(n, "phone_number", "缺失或格式不对")
    number = national_number(str(raw))
    if not ascii_digits(number) or not 5 <= len(number) <= 15:
        raise _bad(n, "phone_number", "缺失或格式不对")
    return number


def _e164(number: str) -> str:
    """Contacts store E.164: an 11-digit mainland number gets ``+86``, others ``+``."""
    return "+86" + number if len(number) == 11 and number.startswith("1") else "+" + number


def _text(fields: dict[str, Any], name: str, n: int) -> str:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise _bad(n, name, "缺失或为空")
    return str(value).strip()


def _optional_text(fields: dict[str, Any], name: str, n: int) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(n, name, "不是文本")
    return value


def _out_id(fields: dict[str, Any], n: int) -> str:
    """``out_id`` as text: empty when absent (a ``SendBatchSms`` has none)."""
    value = fields.get("out_id")
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _bad(n, "out_id", "不是文本")
    return str(value)


def _time(fields: dict[str, Any], name: str, n: int) -> datetime | None:
    value = fields.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _bad(n, name, "须为 YYYY-MM-DD HH:MM:SS")
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise _bad(n, name, "须为 YYYY-MM-DD HH:MM:SS") from None
