"""Tencent Cloud SMS callbacks: ``POST /webhooks/sms/tencent/{path_secret}/status`` and ``/reply``.

Tencent signs neither callback, so a request is taken as Tencent's only when the path carries
``channels.sms.tencent.path_secret`` and, if ``allowed_ips`` is set, comes from one of them;
anything else is 403 and stores nothing (so is any request while the provider is disabled).
A body that is not Tencent's JSON is 400, naming the field, and stores nothing.

- ``/status``: a JSON array of delivery receipts (``sid`` = the ``SerialNo`` of the send,
  ``report_status`` ``SUCCESS`` | ``FAIL``, ``errmsg``, ``description``, ``user_receive_time``
  in Beijing time). They set the messages ``delivered`` / ``failed``
  (:func:`hub.outbound.receipts.apply_receipts`); receipts that outran the send record are parked
  for the reconciler. Applying a redelivered receipt changes nothing. A receipt names no hub
  message (no ``SessionContext``, unlike the status query): one for a send whose worker died
  during the call waits, parked, until the dispatcher's status query records its ``SerialNo``
  (:mod:`hub.outbound.unknown_sends` says why that query is not triggered from here).
- ``/reply``: one JSON object (``mobile``, ``nationcode``, ``text``, ``sign``, ``time``,
  ``extend``). It is stored with :func:`hub.inbound.accept.accept_reply` — linked to the contact by
  the sender's E.164 number — before Tencent is answered. Tencent sends no message id, so the
  id is a hash of what identifies the reply (:func:`reply_id`): a redelivery is the same reply
  and stores nothing new.

Both answer ``{"result": 0, "errmsg": "OK"}`` once done; Tencent retries anything else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from channels.base import DeliveryReceipt, InboundReply
from hub.core.clock import SHANGHAI
from hub.core.errors import UsageError
from hub.core.identifiers import mask_mobile, normalize_mobile
from hub.core.vocab import ChannelName
from hub.inbound.accept import accept_reply
from hub.outbound.receipts import apply_receipts, park_unmatched
from hub.web.webhooks.context import (
    WebhookContext,
    require_allowed_source,
    require_path_secret,
)
from hub.web.webhooks.payloads import PayloadError, ascii_digits, load_json

log = structlog.get_logger(__name__)

PROVIDER: Final = "tencent"
STATUS_PATH: Final = "/webhooks/sms/tencent/{path_secret}/status"
REPLY_PATH: Final = "/webhooks/sms/tencent/{path_secret}/reply"
OK: Final = {"result": 0, "errmsg": "OK"}
MAX_BODY: Final = 1024 * 1024  # a receipt batch is ~200 bytes an entry
_RECEIVE_TIME: Final = "%Y-%m-%d %H:%M:%S"
_MAX_TIME_DIGITS: Final = 10  # epoch seconds until 2286


class CallbackError(UsageError):
    """A callback body that is not what Tencent sends; the message names the field."""


# --- parsing (pure) ---------------------------------------------------------------------------


def parse_status_reports(body: bytes) -> list[DeliveryReceipt]:
    """The receipts of one ``/status`` callback (a JSON array), or :class:`CallbackError`."""
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


def parse_reply(body: bytes) -> InboundReply:
    """The reply of one ``/reply`` callback (a JSON object), or :class:`CallbackError`."""
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
    return InboundReply(
        provider=PROVIDER,
        provider_msg_id=reply_id(nationcode, mobile, sent_at, text, extend),
        sender=sender_of(nationcode, mobile),
        text=text,
        raw=dict(data),
    )


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


# --- routes -----------------------------------------------------------------------------------


def router(ctx: WebhookContext) -> APIRouter:
    """The two callback routes, bound to the open components in ``ctx``."""
    tencent = ctx.settings.channels.sms.tencent
    routes = APIRouter(tags=["webhooks"])

    async def verified_body(path_secret: str, request: Request) -> bytes:
        if not tencent.enabled:
            raise HTTPException(status_code=403, detail="forbidden")
        require_path_secret(path_secret, tencent.path_secret)
        require_allowed_source(request, tencent.allowed_ips)
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(status_code=413, detail="too large")
        return body

    @routes.post(STATUS_PATH, include_in_schema=False)
    async def status(path_secret: str, request: Request) -> JSONResponse:
        body = await verified_body(path_secret, request)
        try:
            receipts = parse_status_reports(body)
        except CallbackError as exc:
            return _refused(exc)
        outcome = await apply_receipts(ctx.db, ctx.clock, receipts)
        await park_unmatched(ctx.redis, ctx.keys, ctx.clock, outcome.unmatched)
        log.info(
            "tencent_sms_receipts", received=len(receipts), applied=outcome.applied,
            already=outcome.already, parked=len(outcome.unmatched),
        )  # fmt: skip
        return JSONResponse(OK)

    @routes.post(REPLY_PATH, include_in_schema=False)
    async def reply(path_secret: str, request: Request) -> JSONResponse:
        body = await verified_body(path_secret, request)
        try:
            inbound = parse_reply(body)
        except CallbackError as exc:
            return _refused(exc)
        accepted = await accept_reply(ctx.db, ctx.queue, ctx.clock, ChannelName.SMS, inbound)
        log.info(
            "tencent_sms_reply", reply_id=accepted.reply_id, duplicate=accepted.duplicate,
            sender=mask_mobile(inbound.sender), linked=accepted.contact_id is not None,
        )  # fmt: skip
        return JSONResponse(OK)

    return routes


def _refused(error: CallbackError) -> JSONResponse:
    return JSONResponse({"result": 1, "errmsg": str(error)}, status_code=400)
