"""A loopback fake of Aliyun SMS (dysmsapi 2017-05-25) ``SendSms``/``SendBatchSms`` on aiohttp.web,
and ``QuerySendDetails``.

It checks requests the way Aliyun's POP gateway does: parameters come from the query string
and the form body; the RPC signature (``channels.sms.aliyun_sign``) is recomputed with the
configured AccessKeySecret over everything received, so a tampered parameter or a wrong
secret is ``SignatureDoesNotMatch`` (HTTP 400, with the server's string-to-sign in the
message, as Aliyun answers); an unknown AccessKeyId is ``InvalidAccessKeyId.NotFound``
(404); a ``Timestamp`` more than 15 minutes off is ``InvalidTimeStamp.Expired``; a
``SignatureNonce`` seen in the last 15 minutes is ``SignatureNonceUsed``. The action's own
parameters are validated (numbers, sign names, ``TemplateParam``/``TemplateParamJson`` as JSON
objects of strings, index-aligned arrays of at most 100 for ``SendBatchSms``) with Aliyun's
``isv.*`` codes at HTTP 200. An accepted request answers ``{"Code": "OK", "BizId": ...}`` and is
recorded (:attr:`AliyunSmsFake.received`). It always answers JSON (the hub asks ``Format=JSON``).

``QuerySendDetails`` (same signature) answers a number's sends on one Beijing day from what was
recorded, paged by ``PageSize`` (≤ 50) and ``CurrentPage``: ``SendStatus`` 1 (waiting for the
receipt) until ``report_delay_s`` after the send, then 3 (``DELIVERED``), with the request's
``OutId``.

Switches (:class:`FakeSwitches`): a whole-request error code (and its message), per-number
codes by number suffix (Aliyun answers one ``Code`` per request, so such a number refuses its
whole request), a random error rate with its code, latency, approved templates.

Pushes: Aliyun's HTTP push ("HTTP批量推送模式") POSTs JSON arrays of ``SmsReport`` and ``SmsUp``
items; :meth:`AliyunSmsFake.reports` and :meth:`AliyunSmsFake.up` build them from what was
received, and :func:`push` posts them to a webhook and returns its answer.

In a test::

    fake = AliyunSmsFake("LTAItest", "secret")
    async with fake.serve() as base_url:
        ...  # point the channel at base_url; inspect fake.received; push(session, url, ...)

As a process: ``python -m channels.fakes aliyun_sms --access-key-id X --access-key-secret Y``
prints its base URL and serves until SIGINT/SIGTERM; ``GET /__fake__/received``,
``POST /__fake__/switches`` and ``POST /__fake__/reset`` are the fake's own controls.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from channels.sms.aliyun import MAX_BATCH_NUMBERS, SEND, SEND_BATCH, VERSION
from channels.sms.aliyun_sign import parse_timestamp, string_to_sign, verify_signature
from channels.sms.aliyun_status import PAGE_SIZE, STATUS_ACTION
from hub.core.clock import SHANGHAI

MAX_SKEW_S: Final = 15 * 60  # Aliyun refuses timestamps more than 15 minutes off
MAX_SEND_NUMBERS: Final = 1000  # SendSms: comma-separated PhoneNumbers
_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_STATUS: Final = {
    "SignatureDoesNotMatch": 400,
    "IncompleteSignature": 400,
    "InvalidTimeStamp.Expired": 400,
    "InvalidTimeStamp.Format": 400,
    "SignatureNonceUsed": 400,
    "InvalidVersion": 400,
    "Throttling.User": 400,
    "Throttling.Api": 400,
    "InvalidAccessKeyId.NotFound": 404,
    "InvalidAction.NotFound": 404,
    "InternalError": 500,
    "ServiceUnavailable": 503,
}
_MESSAGES: Final = {
    "InvalidAccessKeyId.NotFound": "Specified access key is not found.",
    "InvalidTimeStamp.Expired": "Specified time stamp or date value is expired.",
    "SignatureNonceUsed": "Specified signature nonce was used already.",
    "Throttling.User": "Request was denied due to user flow control.",
    "isv.BUSINESS_LIMIT_CONTROL": "触发分钟级流控Permits:1",
    "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.SMS_SIGNATURE_ILLEGAL": "该账号下找不到对应签名",
    "isv.SMS_TEMPLATE_ILLEGAL": "该账号下找不到对应模板",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板缺少变量",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isv.MOBILE_COUNT_OVER_LIMIT": "手机号码数量超过限制",
    "isp.SYSTEM_ERROR": "系统错误",
}


@dataclass(slots=True)
class FakeSwitches:
    """What the fake should get wrong. Change them between (or during) requests."""

    request_error: str | None = None  # every request answers this Code
    error_message: str | None = None  # Message of the two above (default: Aliyun's usual)
    number_errors: dict[str, str] = field(default_factory=dict)  # number suffix -> Code
    error_rate: float = 0.0  # share of requests refused at random with error_rate_code
    error_rate_code: str = "isp.SYSTEM_ERROR"
    latency_s: float = 0.0  # wait before answering
    approved_templates: dict[str, list[str]] | None = None  # template code -> variable names
    record: bool = True  # keep what was received (off: a long benchmark keeps no memory)
    report_delay_s: float = 0.0  # QuerySendDetails says delivered (3) this long after a send
    status_error: str | None = None  # QuerySendDetails answers this Code


@dataclass(frozen=True, slots=True)
class ReceivedSms:
    """One accepted request as the fake saw it (``at`` is epoch seconds)."""

    at: float
    action: str
    phone_numbers: tuple[str, ...]
    sign_names: tuple[str, ...]
    template_code: str
    template_params: tuple[dict[str, str], ...]  # one per number ({} without variables)
    biz_id: str
    out_id: str = ""


class Refused(Exception):
    """The request fails with ``code`` (answered as Aliyun's error JSON with its HTTP status)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.message = message or _MESSAGES.get(code, code)
        self.status = _STATUS.get(code, 200 if code.startswith(("isv.", "isp.")) else 400)


class AliyunSmsFake:
    """The fake's state and handlers; :meth:`serve` runs it on a loopback port."""

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        sign_name: str | None = None,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_name = sign_name
        self.clock = clock
        self.switches = FakeSwitches()
        self.received: list[ReceivedSms] = []
        self.refused: list[str] = []  # codes of refused requests, in order
        self._random = random.Random(seed)
        self._nonces: dict[str, float] = {}
        self._biz_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._sequence_ids = itertools.count(1)

    def reset(self) -> None:
        """Forget what was received and switch every error off."""
        self.switches = FakeSwitches()
        self.received.clear()
        self.refused.clear()

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Listen on ``host:port`` (0: any free port); yield the base URL; stop on exit."""
        runner = web.ServerRunner(web.Server(self.route, access_log=None), handle_signals=False)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        try:
            await web.SockSite(runner, sock).start()
            yield f"http://{host}:{sock.getsockname()[1]}"
        finally:
            await runner.cleanup()
            sock.close()

    async def route(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/" and request.method in ("GET", "POST"):
            return await self.handle(request)
        if (request.method, request.path) == ("GET", "/__fake__/received"):
            return _json({"received": [dataclasses.asdict(r) for r in self.received]})
        if (request.method, request.path) == ("POST", "/__fake__/switches"):
            self.switches = dataclasses.replace(self.switches, **await request.json())
            return _json(dataclasses.asdict(self.switches))
        if (request.method, request.path) == ("POST", "/__fake__/reset"):
            self.reset()
            return _json({"reset": True})
        raise web.HTTPNotFound()

    # --- the API -----------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.Response:
        body = (await request.read()).decode() if request.method == "POST" else ""
        params = dict(request.query)
        params.update(parse_qsl(body, keep_blank_values=True))
        request_id = f"A11C7A5E-0000-4000-8000-{next(self._request_ids):012X}"
        if self.switches.latency_s:
            await asyncio.sleep(self.switches.latency_s)
        try:
            self._verify(params, request.method)
            if params.get("Action") == STATUS_ACTION:
                return _json({"RequestId": request_id, **self._details(params)})
            received = self._accept(params)
        except Refused as refused:
            self.refused.append(refused.code)
            answer = {"RequestId": request_id, "HostId": "dysmsapi.aliyuncs.com",
                      "Code": refused.code, "Message": refused.message}  # fmt: skip
            return _json(answer, status=refused.status)
        if self.switches.record:
            self.received.append(received)
        return _json({"RequestId": request_id, "Message": "OK", "Code": "OK",
                      "BizId": received.biz_id})  # fmt: skip

    def _verify(self, params: dict[str, str], method: str) -> None:
        """Check the signature as Aliyun's gateway does; remember nonces of valid requests."""
        for name in ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp"):
            if not params.get(name):
                raise Refused(f"Missing{name}", f"{name} is mandatory for this action.")
        if params["AccessKeyId"] != self.access_key_id:
            raise Refused("InvalidAccessKeyId.NotFound")
        try:
            at = parse_timestamp(params["Timestamp"]).timestamp()
        except ValueError:
            raise Refused(
                "InvalidTimeStamp.Format", "Timestamp is not yyyy-MM-ddTHH:mm:ssZ"
            ) from None
        now = self.clock()
        if abs(now - at) > MAX_SKEW_S:
            raise Refused("InvalidTimeStamp.Expired")
        method_ok = params.get("SignatureMethod") == "HMAC-SHA1"
        if not method_ok or params.get("SignatureVersion") != "1.0":
            raise Refused("SignatureDoesNotMatch", "Only HMAC-SHA1 signatures of version 1.0.")
        if not verify_signature(self.access_key_secret, params, method):
            server = string_to_sign(params, method)
            raise Refused(
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{server}",
            )
        self._nonces = {n: t for n, t in self._nonces.items() if now - t <= MAX_SKEW_S}
        if params["SignatureNonce"] in self._nonces:
            raise Refused("SignatureNonceUsed")
        self._nonces[params["SignatureNonce"]] = now
        if params.get("Version") != VERSION:
            raise Refused("InvalidVersion", f"Specified parameter Version is not valid: {VERSION}")
        if params.get("Action") not in (SEND, SEND_BATCH, STATUS_ACTION):
            raise Refused("InvalidAction.NotFound", "Specified api is not found.")

    def _details(self, params: dict[str, str]) -> dict[str, Any]:
        """A ``QuerySendDetails`` answer from what was recorded."""
        if self.switches.status_error:
            raise Refused(self.switches.status_error)
        number, day = _required(params, "PhoneNumber"), _required(params, "SendDate")
        try:
            size, page = int(_required(params, "PageSize")), int(_required(params, "CurrentPage"))
        except ValueError:
            raise Refused("isv.INVALID_PARAMETERS", "PageSize/CurrentPage") from None
        if not 1 <= size <= PAGE_SIZE or page < 1:
            raise Refused("isv.INVALID_PARAMETERS", f"PageSize 1-{PAGE_SIZE}, CurrentPage ≥ 1")
        now = self.clock()
        found = []
        for r in self.received:
            if _beijing(r.at)[:10].replace("-", "") != day or number not in r.phone_numbers:
                continue
            done = now >= r.at + self.switches.report_delay_s
            found.append({
                "PhoneNum": number, "SendStatus": 3 if done else 1,
                "ErrCode": "DELIVERED" if done else "", "TemplateCode": r.template_code,
                "Content": "", "SendDate": _beijing(r.at),
                "ReceiveDate": _beijing(r.at + self.switches.report_delay_s) if done else "",
                "OutId": r.out_id,
            })  # fmt: skip
        rows = found[(page - 1) * size : page * size]
        return {"Code": "OK", "Message": "OK", "TotalCount": len(found),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": rows}}  # fmt: skip

    def _accept(self, params: dict[str, str]) -> ReceivedSms:
        switches = self.switches
        if switches.request_error:
            raise Refused(switches.request_error, switches.error_message or "")
        if switches.error_rate and self._random.random() < switches.error_rate:
            raise Refused(switches.error_rate_code)
        action = params["Action"]
        template_code = _required(params, "TemplateCode")
        if action == SEND:
            numbers = _required(params, "PhoneNumbers").split(",")
            signs = [_required(params, "SignName")] * len(numbers)
            one = _template_param(params.get("TemplateParam"))
            template_params = [one] * len(numbers)
            limit = MAX_SEND_NUMBERS
        else:
            numbers = _strings(_json_value(_required(params, "PhoneNumberJson")))
            signs = _strings(_json_value(_required(params, "SignNameJson")))
            raw = params.get("TemplateParamJson")
            values = _json_value(raw) if raw else [{}] * len(numbers)
            if not isinstance(values, list):
                raise Refused("isv.INVALID_JSON_PARAM")
            template_params = [_template_param(v) for v in values]
            limit = MAX_BATCH_NUMBERS
            if not len(numbers) == len(signs) == len(template_params):
                raise Refused("isv.INVALID_PARAMETERS", "号码、签名与模板参数的个数须一致")
        if not numbers or len(numbers) > limit:
            raise Refused("isv.MOBILE_COUNT_OVER_LIMIT")
        if any(not _MAINLAND_MOBILE.match(n) for n in numbers):
            raise Refused("isv.MOBILE_NUMBER_ILLEGAL")
        if self.sign_name is not None and any(s != self.sign_name for s in signs):
            raise Refused("isv.SMS_SIGNATURE_ILLEGAL")
        approved = switches.approved_templates
        if approved is not None:
            if template_code not in approved:
                raise Refused("isv.SMS_TEMPLATE_ILLEGAL")
            if any(not set(approved[template_code]) <= set(p) for p in template_params):
                raise Refused("isv.TEMPLATE_MISSING_PARAMETERS")
        for number in numbers:
            for suffix, code in switches.number_errors.items():
                if number.endswith(suffix):
                    raise Refused(code, switches.error_message or "")
        return ReceivedSms(
            at=self.clock(), action=action, phone_numbers=tuple(numbers), sign_names=tuple(signs),
            template_code=template_code, template_params=tuple(template_params),
            biz_id=f"{next(self._biz_ids):018d}^0", out_id=params.get("OutId", ""),
        )  # fmt: skip

    # --- pushes ------------------------------------------------------------------------------

    def reports(
        self,
        received: Sequence[ReceivedSms] | None = None,
        *,
        success: bool = True,
        err_code: str = "DELIVERED",
        err_msg: str = "用户接收成功",
    ) -> list[dict[str, Any]]:
        """``SmsReport`` items for every number of ``received`` (default: all received)."""
        now = _beijing(self.clock())
        return [
            {
                "phone_number": number,
                "send_time": _beijing(r.at),
                "report_time": now,
                "success": success,
                "err_code": err_code,
                "err_msg": err_msg,
                "sms_size": "1",
                "biz_id": r.biz_id,
                "out_id": r.out_id,
            }
            for r in (self.received if received is None else received)
            for number in r.phone_numbers
        ]

    def up(
        self,
        phone_number: str,
        content: str,
        *,
        sequence_id: int | None = None,
        dest_code: str = "",
        sign_name: str | None = None,
    ) -> dict[str, Any]:
        """One ``SmsUp`` item: a reply from ``phone_number`` (11 digits)."""
        return {
            "phone_number": phone_number,
            "send_time": _beijing(self.clock()),
            "content": content,
            "sign_name": sign_name if sign_name is not None else (self.sign_name or ""),
            "dest_code": dest_code,
            "sequence_id": sequence_id if sequence_id is not None else next(self._sequence_ids),
        }


async def push(
    session: aiohttp.ClientSession, url: str, items: Sequence[dict[str, Any]]
) -> tuple[int, Any]:
    """POST a JSON array the way Aliyun's HTTP push does; the webhook's status and JSON answer."""
    body = json.dumps(list(items), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    async with session.post(url, data=body, headers=headers) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise Refused(f"Missing{name}", f"{name} is mandatory for this action.")
    return value


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise Refused("isv.INVALID_JSON_PARAM") from None


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused("isv.INVALID_JSON_PARAM")
    return value


def _template_param(value: Any) -> dict[str, str]:
    """A template's variables: a JSON object (or its text) whose values are all strings."""
    if value is None:
        return {}
    parsed = _json_value(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise Refused("isv.INVALID_JSON_PARAM")
    return parsed


def _beijing(epoch: float) -> str:
    """Aliyun's push time format: Beijing time, ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.fromtimestamp(epoch, tz=UTC).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _json(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, ensure_ascii=False).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def add_options(parser: argparse.ArgumentParser) -> None:
    """This fake's own options of ``python -m channels.fakes aliyun_sms`` (:mod:`.serve`)."""
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--access-key-secret", required=True)
    parser.add_argument("--sign-name", default=None, help="refuse any other SignName")


def from_options(args: argparse.Namespace) -> AliyunSmsFake:
    return AliyunSmsFake(args.access_key_id, args.access_key_secret, sign_name=args.sign_name)
