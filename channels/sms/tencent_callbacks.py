"""Tencent Cloud SMS callbacks, parsed (pure): delivery receipts and replies.

Tencent pushes two JSON callbacks (``channels.fakes.tencent_sms_push`` builds both):

- delivery receipts (短信下发状态通知): a JSON array, one object per message: ``sid`` (the
  ``SerialNo`` of the send), ``report_status`` ``SUCCESS`` | ``FAIL``, ``errmsg``,
  ``description``, ``user_receive_time`` in Beijing time. A receipt names no hub message (no
  ``SessionContext``, unlike the status query).
- replies (短信回复): one JSON object: ``mobile``, ``nationcode``, ``text``, ``sign``, ``time``
  (Unix seconds), ``extend``. Tencent sends no message id, so the reply's id is a hash of what
  identifies it (:func:`reply_id`): a redelivery is the same reply.

A body that is not that is :class:`channels.callbacks.CallbackError`, its message (Chinese)
naming the field. The webhook (``hub.web.webhooks.sms_tencent``) verifies before it calls these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from channels.base import DeliveryReceipt, InboundReply
from channels.callbacks import CallbackError
from channels.sms.payloads import PayloadError, ascii_digits, load_json
from hub.core.clock import SHANGHAI
from hub.core.identifiers import normalize_mobile

PROVIDER: Final = "tencent"
_RECEIVE_TIME: Final = "%Y-%m-%d %H:%M:%S"
_MAX_TIME_DIGITS: Final = 10  # epoch seconds until 2286


def parse_receipts(body: bytes) -> list[DeliveryReceipt]:
    """The receipts of one status callback (a JSON array), or :class:`CallbackError`."""
    data = _json(body)
    if not isinstance(data, list):
        raise CallbackError("状态回执应为 JSON 数组（body）")
    receipts = []
    for index, item in enumerate(data):
        where = f"第 {index + 1} 条回执"
        if not isinstance(item, dict):
            raise CallbackError(f"{where}不是 JSON 对象（[{index}]）")
        sid = _text(item, "sid", where, required=True)
        status = _text(item, "report_status", where, required=True)
        if status not in ("SUCCESS", "FAIL"):
            raise CallbackError(f"{where}的状态应为 SUCCESS 或 FAIL（report_status）")
        delivered = status == "SUCCESS"
        receipts.append(
            DeliveryReceipt(
                provider=PROVIDER,
                provider_message_id=sid,
                delivered=delivered,
                at=_receive_time(item, where),
                error_code="" if delivered else _text(item, "errmsg", where),
                detail="" if delivered else _text(item, "description", where),
            )
        )
    return receipts


def parse_reply(body: bytes) -> list[InboundReply]:
    """The one reply of a reply callback (a JSON object), or :class:`CallbackError`."""
    data = _json(body)
    where = "短信回复"
    if not isinstance(data, dict):
        raise CallbackError("短信回复应为 JSON 对象（body）")
    mobile = _text(data, "mobile", where, required=True, numeric=True)
    nationcode = _text(data, "nationcode", where, required=True, numeric=True)
    if "text" not in data:
        raise CallbackError(f"{where}缺少字段（text）")
    text = _text(data, "text", where)
    _text(data, "sign", where)  # kept in raw; checked only for its type
    extend = _text(data, "extend", where)
    sent_at = data.get("time")
    if isinstance(sent_at, str) and ascii_digits(sent_at) and len(sent_at) <= _MAX_TIME_DIGITS:
        sent_at = int(sent_at)
    if (
        isinstance(sent_at, bool)
        or not isinstance(sent_at, int)
        or not 0 <= sent_at < 10**_MAX_TIME_DIGITS
    ):
        raise CallbackError(f"{where}的时间应为 Unix 秒数（time）")
    reply = InboundReply(
        provider=PROVIDER,
        provider_msg_id=reply_id(nationcode, mobile, sent_at, text, extend),
        sender=sender_of(nationcode, mobile),
        text=text,
        raw=dict(data),
    )
    return [reply]


def reply_id(nationcode: str, mobile: str, sent_at: int, text: str, extend: str) -> str:
    """A stable id for a reply Tencent gives none: the same reply redelivered, the same id."""
    key = "\x1f".join((nationcode, mobile, str(sent_at), extend, text))
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def sender_of(nationcode: str, mobile: str) -> str:
    """The sender in E.164, as contacts store mobiles (``86`` + ``139…`` → ``+86139…``)."""
    if nationcode == "86":
        try:
            return normalize_mobile("+86" + mobile)
        except ValueError:
            pass  # not a mainland mobile: stored as given, it will match no contact
    return f"+{nationcode}{mobile}"


def _json(body: bytes) -> Any:
    try:
        return load_json(body)
    except PayloadError as exc:
        raise CallbackError(f"{exc}（body）") from None


def _text(
    item: Mapping[str, Any], name: str, where: str, *, required: bool = False, numeric: bool = False
) -> str:
    value = item.get(name)
    if value is None:
        if required:
            raise CallbackError(f"{where}缺少字段（{name}）")
        return ""
    if numeric and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        raise CallbackError(f"{where}的字段格式不对（{name}）")
    if numeric and not ascii_digits(value.strip().lstrip("+")):
        raise CallbackError(f"{where}的字段应为数字（{name}）")
    return value.strip().lstrip("+") if numeric else value


def _receive_time(item: Mapping[str, Any], where: str) -> datetime | None:
    value = item.get("user_receive_time")
    if value in (None, ""):
        return None
    try:
        return datetime.strptime(str(value), _RECEIVE_TIME).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise CallbackError(f"{where}的时间格式不对（user_receive_time）") from None
