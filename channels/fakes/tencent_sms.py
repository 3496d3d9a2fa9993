"""A loopback fake of Tencent Cloud SMS ``SendSms`` and ``PullSmsSendStatusByPhoneNumber`` (API 3.0,
2021-01-11).

It serves on :mod:`channels.fakes.lean_http` (a minimal HTTP/1.1 server): ``hub bench`` drives
it at thousands of requests a second on the hub's own cores.

It checks requests the way Tencent does (:func:`channels.sms.tencent_tc3.verify`): the
TC3-HMAC-SHA256 signature is recomputed from the request as received (the ``Content-Type`` and
``Host`` bytes sent, the raw body) with the configured secret, so a tampered body, a wrong
secret or a signed-but-different content type is ``AuthFailure.SignatureFailure``; a timestamp
more than five minutes off is ``AuthFailure.SignatureExpire``. The body is validated (1–200
numbers, not mainland and international mixed, the app id, a template id, a
``TemplateParamSet`` of strings, the signature name, approved templates) and each number gets
its own ``SendStatus`` with a ``SerialNo``. Accepted requests are recorded (:attr:`received`),
with their ``SessionContext``.

``PullSmsSendStatusByPhoneNumber`` (same signature, ``X-TC-Action`` names it) answers the
status reports of one number from what was recorded: every accepted number is reported
``SUCCESS`` (``DELIVRD``) ``report_delay_s`` after it was accepted, with its ``SerialNo`` and
its request's ``SessionContext``, filtered by ``UserReceiveTime`` between ``BeginTime`` and
``EndTime`` and paged by ``Offset``/``Limit`` (at most 100), as Tencent does.

Switches (:class:`FakeSwitches`): a whole-request error code; per-number codes by number
suffix (``{"0099": "LimitExceeded.PhoneNumberDailyLimit"}``, ``""`` for every number); a
random error rate with its code; an HTTP status instead of an answer (a failing gateway); and
latency. Delivery receipts and replies, as Tencent's servers push them, come from
:mod:`channels.fakes.tencent_sms_push`.

In a test::

    fake = TencentSmsFake("AKIDtest", "secret")
    async with fake.serve() as base_url:
        ...  # point the channel at base_url; inspect fake.received

As a separate process (what ``hub bench`` does)::

    python -m channels.fakes tencent_sms --port 0 --secret-id X --secret-key Y

prints its base URL on the first line of stdout and serves until SIGINT/SIGTERM. Not part of
Tencent's API, for drills and benchmarks: ``GET /__fake__/received`` (what it accepted),
``GET /__fake__/counts`` (how many requests and numbers it accepted and refused: kept even
with recording off, so a million-message run checks its count in a few integers),
``POST /__fake__/switches`` (JSON of :class:`FakeSwitches` fields), ``POST /__fake__/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from channels.fakes.lean_http import Request, Response, serve
from channels.sms.tencent import ACTION, MAX_NUMBERS, SERVICE, VERSION
from channels.sms.tencent_status import STATUS_ACTION, STATUS_PAGE
from channels.sms.tencent_tc3 import verify

_MAINLAND_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
_MESSAGES: Final = {
    "AuthFailure.InvalidAuthorization": "Authorization in the request header is invalid.",
    "AuthFailure.SecretIdNotFound": "The SecretId is not found.",
    "AuthFailure.SignatureExpire": "Signature expired. Timestamp and server time cannot differ "
    "by more than five minutes.",
    "AuthFailure.SignatureFailure": "The provided credentials could not be validated. "
    "Please check your signature is correct.",
    "InternalError": "An internal error has occurred. Retry your request.",
    "InternalError.Timeout": "The request to send an SMS message timed out.",
    "LimitExceeded": "Quota limit exceeded.",
    "RequestLimitExceeded": "Your current request times exceeds the limit.",
    "FailedOperation.PhoneNumberInBlacklist": "The mobile number is in the blocklist.",
    "FailedOperation.MarketingSendTimeConstraint": "Marketing SMS may be sent 8:00-22:00 only.",
    "LimitExceeded.PhoneNumberDailyLimit": "The number's daily limit is reached.",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "The number's 30-second limit is reached.",
    "LimitExceeded.PhoneNumberOneHourLimit": "The number's one-hour limit is reached.",
}


@dataclass(slots=True)
class FakeSwitches:
    """What the fake should get wrong. Change them between (or during) requests."""

    request_error: str | None = None  # every request answers Response.Error with this code
    #: Number suffix -> per-number ``Code`` (the longest matching suffix wins; "" = every number).
    number_errors: dict[str, str] = field(default_factory=dict)
    error_rate: float = 0.0  # this fraction of requests answers Response.Error ...
    error_rate_code: str = "InternalError.Timeout"  # ... with this code
    http_status: int | None = None  # answer every request with this HTTP status, no JSON
    latency_s: float = 0.0  # wait before answering
    approved_templates: dict[str, int] | None = None  # template id -> parameter count
    record: bool = True  # keep what was received (off: a long benchmark keeps no memory)
    report_delay_s: float = 0.0  # a number's status report appears this long after the send
    status_error: str | None = None  # every status query answers Response.Error with this code


@dataclass(frozen=True, slots=True)
class ReceivedSms:
    """One accepted ``SendSms`` request as the fake saw it (``at`` is epoch seconds)."""

    at: float
    phone_numbers: tuple[str, ...]
    template_id: str
    params: tuple[str, ...]
    sign_name: str
    codes: tuple[str, ...]
    serial_nos: tuple[str, ...]
    session_context: str = ""


class RequestRefused(Exception):
    """The whole request fails with ``code`` (answered as ``Response.Error``)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.message = message or _MESSAGES.get(code, code)


class TencentSmsFake:
    """The fake's state and handlers; :meth:`serve` runs it on a loopback port."""

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        *,
        sdk_app_id: str = "1400000000",
        sign_name: str | None = None,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.clock = clock
        self.switches = FakeSwitches()
        self.received: list[ReceivedSms] = []
        self.refused: list[str] = []  # error codes of refused requests, in order
        #: Accepted requests and numbers (a number with its own error code is not accepted),
        #: counted whether or not ``switches.record`` keeps the requests themselves.
        self.accepted_requests = 0
        self.accepted_numbers = 0
        self._random = random.Random(seed)  # the error rate is reproducible
        self._serials = itertools.count(1)
        # RequestIds shaped like Tencent's (a UUID), from a counter: uuid4() costs syscalls.
        self._request_ids = itertools.count(1)
        self._boot = uuid.uuid4().hex[:8]
        self._views: dict[tuple[str, str], Callable[[Request], Awaitable[Response]]]
        self._views = {
            ("GET", "/__fake__/received"): self._received_view,
            ("GET", "/__fake__/counts"): self._counts_view,
            ("POST", "/__fake__/switches"): self._switches_view,
            ("POST", "/__fake__/reset"): self._reset_view,
        }

    def reset(self) -> None:
        """Forget what was received and switch every error off."""
        self.switches = FakeSwitches()
        self.received.clear()
        self.refused.clear()
        self.accepted_requests = self.accepted_numbers = 0

    def sent_to(self, number: str) -> list[str]:
        """Serial numbers issued to ``number`` (E.164), oldest first."""
        return [
            serial
            for r in self.received
            for n, serial in zip(r.phone_numbers, r.serial_nos, strict=True)
            if n == number and serial
        ]

    async def route(self, request: Request) -> Response:
        """The fake's few routes, dispatched by hand."""
        if request.path == "/" and request.method == "POST":
            if request.headers.get("X-TC-Action") == STATUS_ACTION:
                return await self.handle_status(request)
            return await self.handle_send(request)
        view = self._views.get((request.method, request.path))
        if view is None:
            return Response(404, b"404: Not Found", "text/plain")
        return await view(request)

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Listen on ``host:port`` (0: any free port); yield the base URL; stop on exit."""
        async with serve(self.route, host, port) as url:
            yield url

    # --- SendSms ---------------------------------------------------------------------------

    async def handle_send(self, request: Request) -> Response:
        body = await request.read()
        request_id = f"{self._boot}-0000-4000-8000-{next(self._request_ids):012x}"
        switches = self.switches
        if switches.latency_s:
            await asyncio.sleep(switches.latency_s)
        if switches.http_status is not None:
            text = f"<html><body>{switches.http_status} gateway error</body></html>"
            return Response(switches.http_status, text.encode(), "text/html")
        try:
            self._verify(request, body)
            payload = _payload(body)
            numbers, template_id, params, sign_name = self._validate(payload)
            if switches.request_error:
                raise RequestRefused(switches.request_error)
            if switches.error_rate and self._random.random() < switches.error_rate:
                raise RequestRefused(switches.error_rate_code)
        except RequestRefused as refused:
            self.refused.append(refused.code)
            error = {"Code": refused.code, "Message": refused.message}
            return _json({"Response": {"Error": error, "RequestId": request_id}})
        context = str(payload.get("SessionContext") or "")
        statuses = [self._status(number, context) for number in numbers]
        self.accepted_requests += 1
        self.accepted_numbers += sum(1 for s in statuses if s["Code"] == "Ok")
        if switches.record:
            self.received.append(
                ReceivedSms(
                    at=self.clock(),
                    phone_numbers=tuple(numbers),
                    template_id=template_id,
                    params=tuple(params),
                    sign_name=sign_name,
                    codes=tuple(s["Code"] for s in statuses),
                    serial_nos=tuple(s["SerialNo"] for s in statuses),
                    session_context=context,
                )
            )
        return _json({"Response": {"SendStatusSet": statuses, "RequestId": request_id}})

    # --- PullSmsSendStatusByPhoneNumber ------------------------------------------------------

    async def handle_status(self, request: Request) -> Response:
        body = await request.read()
        request_id = f"{self._boot}-0000-4000-8000-{next(self._request_ids):012x}"
        try:
            self._verify(request, body, action=STATUS_ACTION)
            payload = _payload(body)
            if payload.get("SmsSdkAppId") != self.sdk_app_id:
                raise RequestRefused("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "Unknown app.")
            number = str(payload.get("PhoneNumber") or "")
            begin, end = payload.get("BeginTime"), payload.get("EndTime")
            offset, limit = payload.get("Offset"), payload.get("Limit")
            if not number or not all(isinstance(v, int) for v in (begin, end, offset, limit)):
                raise RequestRefused(
                    "MissingParameter", "PhoneNumber, BeginTime, EndTime, Offset, Limit."
                )
            if not 0 < int(limit) <= STATUS_PAGE:  # type: ignore[arg-type]
                raise RequestRefused("InvalidParameterValue", f"Limit is 1 to {STATUS_PAGE}.")
            if self.switches.status_error:
                raise RequestRefused(self.switches.status_error)
        except RequestRefused as refused:
            error = {"Code": refused.code, "Message": refused.message}
            return _json({"Response": {"Error": error, "RequestId": request_id}})
        reports = self.reports_of(number, int(begin), int(end))  # type: ignore[arg-type]
        page = reports[int(offset) : int(offset) + int(limit)]  # type: ignore[arg-type]
        return _json({"Response": {"PullSmsSendStatusSet": page, "RequestId": request_id}})

    def reports_of(self, number: str, begin: int, end: int) -> list[dict[str, Any]]:
        """The status reports of ``number`` received between ``begin`` and ``end`` (epoch s)."""
        now, delay = self.clock(), self.switches.report_delay_s
        found = []
        for r in self.received:
            received_at = r.at + delay
            if received_at > now or not begin <= received_at <= end:
                continue
            for n, serial in zip(r.phone_numbers, r.serial_nos, strict=True):
                if n == number and serial:
                    found.append({
                        "UserReceiveTime": int(received_at), "CountryCode": "86",
                        "SubscriberNumber": n.removeprefix("+86"), "PhoneNumber": n,
                        "SerialNo": serial, "ReportStatus": "SUCCESS", "Description": "DELIVRD",
                        "SessionContext": r.session_context,
                    })  # fmt: skip
        return found

    def _verify(self, request: Request, body: bytes, *, action: str = ACTION) -> None:
        failure = verify(
            request.headers,
            body,
            secret_id=self.secret_id,
            secret_key=self.secret_key,
            service=SERVICE,
            now=self.clock(),
            method=request.method,
            query=request.query_string,
        )
        if failure is not None:
            raise RequestRefused(failure)
        if request.headers.get("X-TC-Action") != action:
            raise RequestRefused("InvalidAction", f"The action requested is not {action}.")
        if request.headers.get("X-TC-Version") != VERSION:
            raise RequestRefused("NoSuchVersion", f"This fake speaks version {VERSION}.")
        if not request.headers.get("X-TC-Region"):
            raise RequestRefused("MissingParameter", "X-TC-Region is missing.")

    def _validate(self, payload: Mapping[str, Any]) -> tuple[list[str], str, list[str], str]:
        numbers = payload.get("PhoneNumberSet")
        if not isinstance(numbers, list) or not numbers:
            raise RequestRefused("MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty.")
        if len(numbers) > MAX_NUMBERS:
            raise RequestRefused(
                "LimitExceeded.PhoneNumberCountLimit", f"At most {MAX_NUMBERS} numbers a request."
            )
        numbers = [str(n) for n in numbers]
        if len({n.startswith("+86") for n in numbers}) > 1:
            raise RequestRefused(
                "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
                "Mainland China and other numbers in one request.",
            )
        if payload.get("SmsSdkAppId") != self.sdk_app_id:
            raise RequestRefused("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "Unknown app.")
        template_id = payload.get("TemplateId")
        if not isinstance(template_id, str) or not template_id:
            raise RequestRefused("MissingParameter", "TemplateId is missing.")
        params = payload.get("TemplateParamSet")
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise RequestRefused(
                "InvalidParameterValue.TemplateParameterFormatError",
                "TemplateParamSet must be an array of strings.",
            )
        sign_name = str(payload.get("SignName") or "")
        if self.sign_name is not None and sign_name != self.sign_name:
            raise RequestRefused("FailedOperation.SignatureIncorrectOrUnapproved", sign_name)
        approved = self.switches.approved_templates
        if approved is not None:
            if template_id not in approved:
                raise RequestRefused("FailedOperation.TemplateIncorrectOrUnapproved", template_id)
            if approved[template_id] != len(params):
                raise RequestRefused(
                    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                    f"template {template_id} takes {approved[template_id]} parameters",
                )
        return numbers, template_id, params, sign_name

    def _status(self, number: str, context: str = "") -> dict[str, Any]:
        code = "Ok"
        if not _MAINLAND_MOBILE.match(number):
            code = "InvalidParameterValue.IncorrectPhoneNumber"
        matching = [s for s in self.switches.number_errors if number.endswith(s)]
        if matching:
            code = self.switches.number_errors[max(matching, key=len)]
        ok = code == "Ok"
        return {
            "SerialNo": f"2028:{next(self._serials):019d}" if ok else "",
            "PhoneNumber": number,
            "Fee": 1 if ok else 0,
            "SessionContext": context,
            "Code": code,
            "Message": "send success" if ok else _MESSAGES.get(code, code),
            "IsoCode": "CN",
        }

    # --- control (not Tencent's API) -------------------------------------------------------

    async def _received_view(self, _request: Request) -> Response:
        return _json({"received": [dataclasses.asdict(r) for r in self.received]})

    async def _counts_view(self, _request: Request) -> Response:
        return _json(
            {"requests": self.accepted_requests, "numbers": self.accepted_numbers,
             "refused": len(self.refused)}
        )  # fmt: skip

    async def _switches_view(self, request: Request) -> Response:
        changes = await request.json()
        self.switches = dataclasses.replace(self.switches, **changes)
        return _json(dataclasses.asdict(self.switches))

    async def _reset_view(self, _request: Request) -> Response:
        self.reset()
        return _json({"reset": True})


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise RequestRefused("FailedOperation.JsonParseFail", "The body is not JSON.") from None
    if not isinstance(payload, dict):
        raise RequestRefused("FailedOperation.JsonParseFail", "The body is not a JSON object.")
    return payload


def _json(data: Any) -> Response:
    return Response.of_json(data)


def add_options(parser: argparse.ArgumentParser) -> None:
    """This fake's own options of ``python -m channels.fakes tencent_sms`` (:mod:`.serve`)."""
    parser.add_argument("--secret-id", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--sdk-app-id", default="1400000000")
    parser.add_argument("--sign-name", default=None, help="refuse any other SignName")
    parser.add_argument("--error-rate", type=float, default=0.0, help="0..1, InternalError")
    parser.add_argument("--seed", type=int, default=0, help="of the error rate's randomness")


def from_options(args: argparse.Namespace) -> TencentSmsFake:
    fake = TencentSmsFake(
        args.secret_id,
        args.secret_key,
        sdk_app_id=args.sdk_app_id,
        sign_name=args.sign_name,
        seed=args.seed,
    )
    fake.switches.error_rate = args.error_rate
    return fake
