"""Aliyun SMS pushes: ``POST /webhooks/sms/aliyun/{path_secret}/report`` and ``/up``.

Aliyun's HTTP push ("HTTP批量推送模式") POSTs JSON arrays and signs nothing, so a push is
verified by the secret path segment (``channels.sms.aliyun.path_secret``, compared in constant
time) and, when configured, the source address (``allowed_ips``): either failing is 403 and
stores nothing. A body that is not an array of well-formed items is 400 naming the item and
the field, and stores nothing either: every item is validated before any is stored.

- ``report`` (``SmsReport``: ``phone_number``, ``biz_id``, ``success``, ``err_code``,
  ``err_msg``, ``report_time``, ``out_id``...) sets the message ``delivered`` or ``failed``
  through :func:`hub.outbound.receipts.apply_receipts`, matched on ``f"{biz_id}:{phone_number}"`` —
  the id the channel recorded (``channels.sms.aliyun``) — or, for a message with no such id on
  record, on the message id a ``SendSms`` carried in ``out_id``: a send whose worker died
  during the call is settled by the report (taken, never resent), and one the status query
  found gets its ``BizId``. Receipts that outran the send are parked. A
  redelivered report changes nothing (a final status is never moved again). A report failing
  with ``MOBILE_IN_BLACK`` (the number refused our signature) also records an SMS opt-out
  (source ``provider:aliyun``), once, when it is the report that failed the message.
- ``up`` (``SmsUp``: ``phone_number``, ``content``, ``sequence_id``...) stores each reply
  through :func:`hub.inbound.accept.accept_reply` (provider ``aliyun``, id ``sequence_id``, sender
  ``+86…``), deduped on the id, linked to its contact and enterprise. A reply of R, TD or 退订
  (NFKC-normalised, stripped, any case) also records an SMS opt-out (source ``aliyun_up``) —
  the notices are notification templates without unsubscribe text, but the words are honoured.

Aliyun gets ``{"code": 0, "msg": "接收成功"}`` only after everything is committed; anything
else makes it push again later, which the dedupe above makes harmless.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from channels.base import DeliveryReceipt, InboundReply
from channels.sms.aliyun import OPTED_OUT_CODES, national_number, out_id_message
from hub.core.clock import SHANGHAI
from hub.core.safe_text import storable_text
from hub.core.vocab import ChannelName
from hub.inbound.accept import accept_reply
from hub.outbound.optouts import opt_out_address
from hub.outbound.receipts import apply_receipts, park_unmatched
from hub.web.webhooks.context import WebhookContext, require_allowed_source, require_path_secret
from hub.web.webhooks.payloads import PayloadError, ascii_digits, load_json

log = structlog.get_logger(__name__)

PROVIDER: Final = "aliyun"
PREFIX: Final = "/webhooks/sms/aliyun/{path_secret}"
ANSWER: Final = {"code": 0, "msg": "接收成功"}
MAX_BODY: Final = 4 * 1024 * 1024  # a push carries at most a few thousand items
UNSUBSCRIBE_WORDS: Final = frozenset({"r", "td", "退订"})
UP_OPT_OUT_SOURCE: Final = "aliyun_up"
BLACKLIST_OPT_OUT_SOURCE: Final = "provider:aliyun"
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"  # Beijing time, as Aliyun pushes it


@dataclass(frozen=True, slots=True)
class Report:
    """One validated ``SmsReport`` item."""

    receipt: DeliveryReceipt
    sender: str  # +86…, for an opt-out


def router(ctx: WebhookContext) -> APIRouter:
    """The two push endpoints of Aliyun SMS."""
    api = APIRouter(tags=["webhooks"])

    def verify(request: Request, path_secret: str) -> None:
        settings = ctx.settings.channels.sms.aliyun
        if not settings.enabled:
            raise HTTPException(status_code=403, detail="forbidden")
        require_path_secret(path_secret, settings.path_secret)
        require_allowed_source(request, settings.allowed_ips)

    @api.post(PREFIX + "/report", include_in_schema=False)
    async def report(path_secret: str, request: Request) -> JSONResponse:
        verify(request, path_secret)
        reports = parse_reports(await _items(request))
        refused = [r for r in reports if r.receipt.error_code in OPTED_OUT_CODES]
        others = [r.receipt for r in reports if r.receipt.error_code not in OPTED_OUT_CODES]
        outcome = await apply_receipts(ctx.db, ctx.clock, others, queue=ctx.queue)
        unmatched = list(outcome.unmatched)
        for item in refused:
            # One at a time (they are rare) to know whether this report failed the message:
            # only then is the opt-out new information, never on a redelivery.
            alone = await apply_receipts(ctx.db, ctx.clock, [item.receipt], queue=ctx.queue)
            unmatched.extend(alone.unmatched)
            if alone.applied:
                await opt_out_address(
                    ctx.db, ctx.clock, ChannelName.SMS, item.sender, source=BLACKLIST_OPT_OUT_SOURCE
                )
        await park_unmatched(ctx.redis, ctx.keys, ctx.clock, unmatched)
        log.info("aliyun_sms_reports", count=len(reports), unmatched=len(unmatched))
        return JSONResponse(ANSWER)

    @api.post(PREFIX + "/up", include_in_schema=False)
    async def up(path_secret: str, request: Request) -> JSONResponse:
        verify(request, path_secret)
        replies = parse_ups(await _items(request))
        stored = 0
        for reply in replies:
            accepted = await accept_reply(ctx.db, ctx.queue, ctx.clock, ChannelName.SMS, reply)
            if accepted.duplicate:
                continue
            stored += 1
            if is_unsubscribe(reply.text):
                await opt_out_address(
                    ctx.db, ctx.clock, ChannelName.SMS, reply.sender, source=UP_OPT_OUT_SOURCE
                )
        log.info("aliyun_sms_up", count=len(replies), stored=stored)
        return JSONResponse(ANSWER)

    return api


def is_unsubscribe(text: str) -> bool:
    """R, TD or 退订 alone, after NFKC (full-width ＴＤ), stripping and case folding.

    Read as ``accept_reply`` stores it (control characters dropped): ``T\\x00D`` is listed
    as TD, so it opts out as TD does.
    """
    words = unicodedata.normalize("NFKC", storable_text(text)).strip().casefold()
    return words in UNSUBSCRIBE_WORDS


# --- parsing (pure) -----------------------------------------------------------------------------


def parse_reports(items: Sequence[Any]) -> list[Report]:
    """Validated ``SmsReport`` items; 400 naming the first bad item and field."""
    reports = []
    for n, item in enumerate(items, start=1):
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
        )
        reports.append(Report(receipt, _e164(number)))
    return reports


def parse_ups(items: Sequence[Any]) -> list[InboundReply]:
    """Validated ``SmsUp`` items as replies; 400 naming the first bad item and field."""
    replies = []
    for n, item in enumerate(items, start=1):
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


async def _items(request: Request) -> list[Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(status_code=413, detail="推送内容过大 (body too large)")
    try:
        data = load_json(body)
    except PayloadError as exc:
        raise HTTPException(status_code=400, detail=f"{exc} (body)") from None
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list) or not data:
        raise HTTPException(status_code=400, detail="推送内容须为非空 JSON 数组 (body)")
    return data


def _bad(n: int, name: str, reason: str) -> HTTPException:
    return HTTPException(status_code=400, detail=f"第 {n} 条推送的 {name} {reason} ({name})")


def _object(item: Any, n: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise HTTPException(status_code=400, detail=f"第 {n} 条推送不是 JSON 对象 (item)")
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
