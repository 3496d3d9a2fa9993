"""Aliyun SMS (dysmsapi, version 2017-05-25): ``SendSms`` and ``SendBatchSms``, RPC-signed.

Pure core, I/O at the edge: :func:`plan_requests` groups messages, :func:`build_request`
gives the exact form body of one signed call (signing in :mod:`channels.sms.aliyun_sign`),
:func:`parse_response` turns Aliyun's answer into one result per message;
:class:`AliyunSmsChannel` gives these to the SMS channel base (:mod:`channels.sms.base`), which
posts through the shared :class:`channels.sms.http_client.HttpClient` it is given.

What is sent (nothing is ever added to the approved wording: government notices go out on
notification templates, so no marketing "回复TD退订" is appended; replies of R/TD/退订 are
still honoured, by the webhook):

- template code: ``params["template_ids"]["aliyun"]`` (``Rendered.message_params``), else the
  code ``templates/<kind>/meta.yaml`` declares for the kind (the channel's ``template_codes``,
  filled by the channel setup); none → ``NoTemplateCode``, never an unapproved send;
- ``TemplateParam``: a JSON object of ``params["names"]`` → ``params["values"]`` (all strings,
  as Aliyun requires); a message with neither uses a template without variables;
- numbers without ``+86`` (11 digits), as Aliyun wants mainland numbers.

Batching: messages with the same template code AND the same parameters share one
``SendBatchSms`` of at most 100 numbers (``PhoneNumberJson``/``SignNameJson``/
``TemplateParamJson``, index-aligned); a personalised message goes alone as ``SendSms``,
concurrently, as many in flight as the HTTP client has connections. A batch refused for one number's
sake (:data:`PER_NUMBER_CODES`: Aliyun answers one ``Code`` for the whole request) is sent
again number by number, so only that number's message fails.

``BizId`` identifies a request, not a number, and a report carries ``biz_id`` and
``phone_number``: the provider message id recorded is ``f"{BizId}:{number}"`` (11 digits),
which is what the report webhook builds to find the message. A ``SendSms`` carries its message
id in ``OutId`` (``SendBatchSms`` has no such field), which ``QuerySendDetails`` returns: a
send whose worker died during the call is resolved by it (:mod:`channels.sms.aliyun_status`).
A report echoes it as ``out_id`` (:func:`out_id_message`): it settles such a send, and matches
one the status query found, which has no ``BizId`` on record.

Error mapping (``Code`` of the answer; HTTP 4xx/5xx answers carry a ``Code`` too):

==============================================  =============================================
``OK``                                          :class:`SendResult`
``isv.BUSINESS_LIMIT_CONTROL``                  :class:`RateLimitedError` (a window, not a
                                                failed attempt) after the limit in the text:
                                                分钟 60 s, 小时 1 h, 天 next Beijing midnight
                                                (else 60 s)
``isv.DAY_LIMIT_CONTROL``                       rate limited until next Beijing midnight
``Throttling*``                                 rate limited for 1 s
``isp.*``, ``InternalError``,                   retry (backoff)
``ServiceUnavailable``, HTTP 5xx, network,
unreadable answer
``InvalidTimeStamp.Expired``,                   retry (a fresh timestamp and nonce)
``SignatureNonceUsed``
``isv.OUT_OF_SERVICE``, ``isv.AMOUNT_NOT_ENOUGH``  retry after 10 min (an admin tops up)
``MOBILE_IN_BLACK``                             :class:`OptedOutError` (the number refused the
                                                signature; mostly seen in reports)
template, signature, parameters, credentials,   :class:`ProviderConfigError`
account (:data:`CONFIG_CODES`)
anything else (``isv.MOBILE_NUMBER_ILLEGAL``,   :class:`PermanentError`
``isv.BLACK_KEY_CONTROL_LIMIT``: a blacklisted
keyword in a variable, ``isv.PARAM_LENGTH_LIMIT``,
``isv.SMS_CONTENT_ILLEGAL``...)
==============================================  =============================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Final

from channels.base import (
    ChannelError,
    ChannelLimits,
    OptedOutError,
    OutboundMessage,
    PermanentError,
    ProviderConfigError,
    RateLimitedError,
    RetryableError,
    SendResult,
)
from channels.batching import Result
from channels.sms.aliyun_sign import form_body, signed_params
from channels.sms.base import OpenRequest, SmsChannel, StatusQuery, plan_groups
from channels.sms.limits import ALIYUN_LIMITS
from channels.sms.settings import AliyunSmsSettings
from hub.core.clock import seconds_until_midnight

VERSION: Final = "2017-05-25"
SEND: Final = "SendSms"
SEND_BATCH: Final = "SendBatchSms"
MAX_BATCH_NUMBERS: Final = 100
#: The region every request names (SMS is one service for all of mainland China).
REGION_ID: Final = "cn-hangzhou"
CONTENT_TYPE: Final = "application/x-www-form-urlencoded; charset=utf-8"
TemplateParam = tuple[tuple[str, str], ...]


# --- planning (pure) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AliyunRequest:
    """One call: messages sharing template code and parameters, with their batch positions."""

    action: str  # SendSms (one number) or SendBatchSms
    template_code: str
    template_param: TemplateParam | None
    messages: tuple[OutboundMessage, ...]
    positions: tuple[int, ...]

    @property
    def numbers(self) -> tuple[str, ...]:
        return tuple(national_number(m.address) for m in self.messages)


def national_number(address: str) -> str:
    """A mainland number as Aliyun takes it (``13800138000``); others as country code + number."""
    digits = address.strip().replace(" ", "").replace("-", "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            return digits[len(prefix) :]
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    return digits.removeprefix("+")


def template_code_of(message: OutboundMessage, template_codes: Mapping[str, str]) -> str | None:
    """The approved template code of a message (see the module docstring for the order);
    ``template_codes`` maps a message kind to the ``SMS_…`` code its ``meta.yaml`` declares."""
    by_provider = message.params.get("template_ids")
    if isinstance(by_provider, Mapping) and by_provider.get("aliyun"):
        return str(by_provider["aliyun"])
    return template_codes.get(message.kind)


def template_param_of(message: OutboundMessage) -> TemplateParam | None:
    """``TemplateParam`` as (name, value) pairs in declared order; ``ValueError`` if unusable."""
    names, values = message.params.get("names"), message.params.get("values")
    if names is None and values is None:
        return None
    if not isinstance(names, list | tuple) or not isinstance(values, list | tuple):
        raise ValueError("names 与 values 须同为列表")
    if len(names) != len(values):
        raise ValueError(f"names 有 {len(names)} 个、values 有 {len(values)} 个")
    return tuple((str(n), str(v)) for n, v in zip(names, values, strict=True))


def plan_requests(
    messages: Sequence[OutboundMessage], template_codes: Mapping[str, str]
) -> tuple[list[AliyunRequest], dict[int, ChannelError]]:
    """Group messages into calls; messages that cannot be sent get their error by position.

    Same (template code, parameters) → one ``SendBatchSms`` of at most 100 numbers; a number
    already in a batch starts another, so each report maps back to one message. A group of
    one is a ``SendSms``.
    """

    def key_of(message: OutboundMessage) -> tuple[str, TemplateParam | None]:
        code = template_code_of(message, template_codes)
        if code is None:
            raise ProviderConfigError(
                f"消息类型 {message.kind} 没有阿里云短信模板 CODE (template code)",
                code="NoTemplateCode",
            )
        try:
            return code, template_param_of(message)
        except ValueError as exc:
            raise PermanentError(
                f"模板参数无法组成 TemplateParam：{exc}", code="BadTemplateParam"
            ) from exc

    groups, refused = plan_groups(
        messages, key_of, national_number, lambda: OpenRequest(MAX_BATCH_NUMBERS)
    )
    requests = [
        AliyunRequest(
            SEND if len(chunk) == 1 else SEND_BATCH,
            code,
            param,
            tuple(messages[p] for p in chunk),
            tuple(chunk),
        )
        for (code, param), chunk in groups
    ]
    return requests, refused


def action_params(request: AliyunRequest, settings: AliyunSmsSettings) -> dict[str, str]:
    """The action's own parameters (before the common ones and the signature)."""
    param = _json(dict(request.template_param)) if request.template_param is not None else None
    if request.action == SEND:
        [message] = request.messages
        params = {
            "PhoneNumbers": national_number(message.address),
            "SignName": settings.required("sign_name"),
            "TemplateCode": request.template_code,
            "OutId": str(message.message_id),
        }
        if param is not None:
            params["TemplateParam"] = param
        return params
    count = len(request.messages)
    if not 1 <= count <= MAX_BATCH_NUMBERS:
        raise ValueError(f"a SendBatchSms request carries 1 to {MAX_BATCH_NUMBERS} numbers")
    params = {
        "PhoneNumberJson": _json(list(request.numbers)),
        "SignNameJson": _json([settings.required("sign_name")] * count),
        "TemplateCode": request.template_code,
    }
    if request.template_param is not None:
        params["TemplateParamJson"] = _json([dict(request.template_param)] * count)
    return params


# The OutId of a SendSms is its message id in decimal: a 64-bit id has at most 19 digits.
_MAX_OUT_ID_DIGITS: Final = 19


def out_id_message(out_id: str) -> int | None:
    """The hub message id a report's ``out_id`` echoes (the ``OutId`` of :func:`action_params`);
    None for an empty one (``SendBatchSms``) or one that is not ours."""
    text = out_id.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_OUT_ID_DIGITS:
        return None
    value = int(text)
    return value if 0 < value < 2**63 else None  # a database's BIGINT, or no message


def build_request(
    request: AliyunRequest, settings: AliyunSmsSettings, now: datetime, nonce: str
) -> tuple[dict[str, str], bytes]:
    """Headers and form body of one signed POST (every parameter, ``Signature`` included)."""
    return signed_call(request.action, action_params(request, settings), settings, now, nonce)


def signed_call(
    action: str, params: Mapping[str, str], settings: AliyunSmsSettings, now: datetime, nonce: str
) -> tuple[dict[str, str], bytes]:
    """Headers and form body of one RPC-signed call of ``action`` with its own ``params``."""
    signed = signed_params(
        params,
        access_key_id=settings.required("access_key_id"),
        access_key_secret=settings.required("access_key_secret"),
        action=action,
        version=VERSION,
        region_id=REGION_ID,
        at=now,
        nonce=nonce,
    )
    return {"Content-Type": CONTENT_TYPE, "Accept": "application/json"}, form_body(signed)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- answers (pure) -----------------------------------------------------------------------------

_RETRY_AFTER: Final[dict[str, float | None]] = {
    "isv.OUT_OF_SERVICE": 600.0,
    "isv.AMOUNT_NOT_ENOUGH": 600.0,
    # A fresh timestamp and nonce on the retry; a clock that stays wrong ends dead.
    "InvalidTimeStamp.Expired": None,
    "SignatureNonceUsed": None,
    "InternalError": None,
    "ServiceUnavailable": None,
}
_BUSINESS_LIMIT: Final = "isv.BUSINESS_LIMIT_CONTROL"
_DAY_LIMIT: Final = "isv.DAY_LIMIT_CONTROL"
OPTED_OUT_CODES: Final = frozenset({"MOBILE_IN_BLACK"})
#: Our side is wrong: every message of the kind would fail the same way (admin alert).
CONFIG_CODES: Final = frozenset(
    {
        "isv.SMS_TEMPLATE_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_SIGN_ILLEGAL",
        "isv.SMS_SIGNATURE_SCENE_ILLEGAL", "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.TEMPLATE_PARAMS_ILLEGAL", "isv.INVALID_PARAMETERS", "isv.INVALID_JSON_PARAM",
        "isv.EXTEND_CODE_ERROR", "isv.DENY_IP_RANGE", "isv.MONTH_LIMIT_CONTROL",
        "isv.ACCOUNT_NOT_EXISTS", "isv.ACCOUNT_ABNORMAL", "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE", "isv.SMS_TEST_NUMBER_LIMIT",
        "isv.SMS_TEST_SIGN_TEMPLATE_LIMIT", "isp.RAM_PERMISSION_DENY",
        "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive", "SignatureDoesNotMatch",
        "IncompleteSignature", "InvalidVersion", "InvalidAction.NotFound", "Forbidden.RAM",
        "MissingSignName", "MissingTemplateCode", "MissingPhoneNumbers",
    }
)  # fmt: skip
#: Codes about one number: a batch refused with one is sent again number by number.
PER_NUMBER_CODES: Final = frozenset(
    {"isv.MOBILE_NUMBER_ILLEGAL", _BUSINESS_LIMIT, *OPTED_OUT_CODES}
)


def classify_error(
    code: str, message: str, now: datetime | None = None, status: int = 200
) -> ChannelError:
    """An Aliyun error code as the hub's error (code kept); see the module docstring's table."""
    text = f"{code}: {message}" if message else code or f"HTTP {status}"
    # Windows: the message is fine, only early; waiting for them is not a failed attempt.
    if code == _BUSINESS_LIMIT:
        return RateLimitedError(text, code=code, retry_after=_business_limit_wait(message, now))
    if code == _DAY_LIMIT:
        return RateLimitedError(text, code=code, retry_after=seconds_until_midnight(now))
    if code.startswith("Throttling"):
        return RateLimitedError(text, code=code, retry_after=1.0)
    if code in _RETRY_AFTER:
        return RetryableError(text, code=code, retry_after=_RETRY_AFTER[code])
    if code.startswith("isp.") and code not in CONFIG_CODES:
        return RetryableError(text, code=code)
    if code in OPTED_OUT_CODES:
        return OptedOutError(text, code=code)
    if code in CONFIG_CODES:
        return ProviderConfigError(text, code=code)
    if status >= 500 or not code:
        return RetryableError(text, code=code or f"HTTP{status}")
    return PermanentError(text, code=code)


def _business_limit_wait(message: str, now: datetime | None) -> float:
    """Aliyun names the window it hit: 触发分钟级流控 / 小时级 / 天级 (Permits:N)."""
    lowered = message.lower()
    if "天" in message or "日" in message or "day" in lowered:
        return seconds_until_midnight(now)
    if "小时" in message or "hour" in lowered:
        return 3600.0
    return 60.0


def read_answer(
    status: int, body: bytes, now: datetime | None, *, what: str = ""
) -> dict[str, Any]:
    """Aliyun's JSON answer when its ``Code`` is ``OK``, or raise the hub's error: an unreadable
    answer retryable, any other ``Code`` by :func:`classify_error`. ``what`` names the call in
    the text ("状态查询")."""
    try:
        answer: Any = json.loads(body)
        if not isinstance(answer, dict) or "Code" not in answer:
            raise TypeError("no Code in the answer")
    except (ValueError, TypeError) as exc:
        raise RetryableError(
            f"无法解析阿里云短信{what}应答 HTTP {status}: {exc}", code="BadResponse"
        ) from exc
    code = str(answer.get("Code") or "")
    if code != "OK":
        raise classify_error(code, str(answer.get("Message") or ""), now, status)
    return answer


def parse_response(
    status: int, body: bytes, request: AliyunRequest, *, now: datetime | None = None
) -> list[Result]:
    """One result per message of ``request``, in order, from Aliyun's JSON answer."""
    try:
        answer = read_answer(status, body, now)
    except ChannelError as error:
        return [error] * len(request.messages)
    biz_id = str(answer.get("BizId") or "")
    return [
        SendResult(m.message_id, f"{biz_id}:{number}" if biz_id else None)
        for m, number in zip(request.messages, request.numbers, strict=True)
    ]


# --- the channel ------------------------------------------------------------------------------


class AliyunSmsChannel(SmsChannel[AliyunSmsSettings, AliyunRequest]):
    """The ``sms`` channel through Aliyun; posts through an HTTP client it does not own."""

    provider: ClassVar[str] = "aliyun"
    label: ClassVar[str] = "阿里云短信"
    limits: ClassVar[ChannelLimits] = ALIYUN_LIMITS
    max_batch: ClassVar[int] = MAX_BATCH_NUMBERS
    #: QuerySendDetails lists a send (status 1, waiting for its receipt) as soon as Aliyun
    #: took it; a little slack for its own replication.
    default_status_settle_seconds: ClassVar[float] = 10.0

    async def send_requests(self, requests: Sequence[AliyunRequest]) -> list[list[Result]]:
        """A batch Aliyun refused for one number's sake (:data:`PER_NUMBER_CODES`) is sent
        again number by number, so only that number's message fails."""
        answers = await super().send_requests(requests)
        split = [
            i for i, (request, results) in enumerate(zip(requests, answers, strict=True))
            if request.action == SEND_BATCH and isinstance(results[0], ChannelError)
            and results[0].code in PER_NUMBER_CODES
        ]  # fmt: skip
        if not split:
            return answers
        singles = [
            AliyunRequest(SEND, requests[i].template_code, requests[i].template_param, (m,), (p,))
            for i in split
            for m, p in zip(requests[i].messages, requests[i].positions, strict=True)
        ]
        one_by_one = iter(await super().send_requests(singles))
        for i in split:
            answers[i] = [next(one_by_one)[0] for _ in requests[i].messages]
        return answers

    def sign(self, request: AliyunRequest) -> tuple[dict[str, str], bytes]:
        return build_request(request, self.settings, self._clock.now(), self._nonce())

    def read(self, request: AliyunRequest, status: int, body: bytes) -> list[Result]:
        return parse_response(status, body, request, now=self._clock.now())

    def plan(
        self, messages: Sequence[OutboundMessage]
    ) -> tuple[list[AliyunRequest], dict[int, ChannelError]]:
        return plan_requests(messages, self.template_ids)

    def network_error(self, exc: Exception) -> str:
        return f"阿里云短信网络错误 (network) {type(exc).__name__}: {exc}"

    def status_query(self) -> StatusQuery[tuple[date, int], Any]:
        """Aliyun's sends to the number, by day (``QuerySendDetails``)."""
        from channels.sms.aliyun_status import AliyunStatusQuery  # it builds on this module

        return AliyunStatusQuery(self.settings, self._nonce)
