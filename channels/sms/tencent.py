"""Tencent Cloud SMS, API 3.0 ``SendSms`` (version 2021-01-11), signed with TC3-HMAC-SHA256.

Pure core, I/O at the edge: :func:`plan_requests` groups messages, :func:`build_request` turns
one group into signed headers and the exact body bytes (signing in :mod:`channels.sms.tencent_tc3`),
:func:`parse_response` turns the answer into one result per message; :class:`TencentSmsChannel`
gives these to the SMS channel base (:mod:`channels.sms.base`), which posts through the shared
:class:`channels.sms.http_client.HttpClient` it is given and maps network failures.

Where a message's template comes from:

- template id: ``params["sms_template_id"]``, else ``params["template_ids"]["tencent"]`` (the
  shape of ``Rendered.message_params``), else the id the kind's ``meta.yaml`` declares (the
  channel's ``template_ids``, filled by the channel setup); a message with none fails
  permanently (``NoTemplateId``) rather than going out unapproved;
- ``TemplateParamSet``: ``params["sms_params"]``, else ``params["values"]`` (in the template's
  declared order, as ``Rendered.message_params`` lists them), else the body as the only one.

Batching: messages with the same template id and parameters share one request of at most 200
numbers (``PhoneNumberSet``); a number already in a request starts another, so every
``SendStatusSet`` entry maps back (by its ``PhoneNumber``) to exactly one message. Each request
carries its messages' ids in ``SessionContext`` (:func:`channels.base.send_context`, under 512
bytes: a group whose ids would not fit starts another request), which Tencent echoes in every
status record.

A send whose worker died during the call is resolved with ``PullSmsSendStatusByPhoneNumber``
(:mod:`channels.sms.tencent_status`): a status record for the number whose
``SessionContext`` holds the message id means Tencent took it; Tencent lists a message only
once the carrier reported it, so one absent :attr:`TencentSmsChannel.status_settle_seconds`
after its send was never taken.

Errors: every provider code, per number (``SendStatusSet[i].Code``) or for the whole request
(``Response.Error.Code``), goes through the one table :data:`ERROR_RULES` (exact codes, then
:data:`PREFIX_RULES`), documented there.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Any, ClassVar, Final, Literal

from yarl import URL

from channels.base import (
    ChannelError,
    ChannelLimits,
    HoldError,
    OptedOutError,
    OutboundMessage,
    PermanentError,
    ProviderConfigError,
    RateLimitedError,
    RetryableError,
    SendResult,
    context_length_with,
    send_context,
)
from channels.batching import Result
from channels.sms.base import (
    NO_TEMPLATE_IDS,
    OpenRequest,
    SmsChannel,
    StatusQuery,
    plan_groups,
)
from channels.sms.limits import TENCENT_LIMITS
from channels.sms.settings import TencentSmsSettings
from channels.sms.tencent_tc3 import authorization, tc3_signature
from hub.core.clock import next_local, seconds_until_midnight

SERVICE: Final = "sms"
ACTION: Final = "SendSms"
#: ``SessionContext`` must stay under 512 bytes.
MAX_CONTEXT: Final = 500
VERSION: Final = "2021-01-11"
# Signed and sent byte for byte: the signature covers it, so no library may add to it.
CONTENT_TYPE: Final = "application/json; charset=utf-8"
MAX_NUMBERS: Final = 200


@functools.lru_cache(maxsize=16)
def _host(endpoint: str) -> str:
    """The Host header exactly as sent (and signed): the port only when not the default."""
    url = URL(endpoint)
    if url.host is None:
        raise ValueError(f"endpoint {endpoint!r} has no host")
    return url.host if url.is_default_port() else f"{url.host}:{url.port}"


# --- error codes: the one table -------------------------------------------------------------


class ErrorKind(StrEnum):
    RETRY = "retry"  # RetryableError: transient; ``wait`` says when to try again
    LIMIT = "limit"  # RateLimitedError: a rate/quota window; ``wait`` is when it opens
    OPTED_OUT = "opted_out"  # OptedOutError: the recipient refused; record an opt-out
    CONFIG = "config"  # ProviderConfigError: our template/signature/account; alert an admin
    HOLD = "hold"  # HoldError: not now, later OK (marketing window opens at 08:00)
    PERMANENT = "permanent"  # PermanentError: never on this channel (bad number, content)


#: ``wait`` of a rule: seconds, or until the provider's day ends (next midnight in Shanghai).
MIDNIGHT: Final = "midnight"
Wait = float | Literal["midnight"] | None


@dataclass(frozen=True, slots=True)
class ErrorRule:
    kind: ErrorKind
    reason: str  # what a clerk reads, in Chinese; the code follows in parentheses
    wait: Wait = None  # RETRY (None: the dispatcher's backoff) and LIMIT only


def _retry(reason: str, wait: Wait) -> ErrorRule:
    return ErrorRule(ErrorKind.RETRY, reason, wait)


def _limit(reason: str, wait: float | Literal["midnight"]) -> ErrorRule:
    """A window: retried when it opens, the wait not counted as a failed attempt."""
    return ErrorRule(ErrorKind.LIMIT, reason, wait)


def _rule(kind: ErrorKind, reason: str) -> ErrorRule:
    return ErrorRule(kind, reason)


_P, _C = ErrorKind.PERMANENT, ErrorKind.CONFIG
#: Exact codes ("短信 API 3.0 发送错误码", https://cloud.tencent.com/document/api/382/59177).
#: A per-number code delays or fails that number only; a whole-request code every number.
ERROR_RULES: Final[Mapping[str, ErrorRule]] = {
    # Per-number frequency limits: the number waits for its window, the others went out.
    "LimitExceeded.PhoneNumberThirtySecondLimit": _limit("该号码30秒内发送条数超限", 30.0),
    "LimitExceeded.PhoneNumberOneHourLimit": _limit("该号码1小时内发送条数超限", 3600.0),
    "LimitExceeded.PhoneNumberDailyLimit": _limit("该号码当日发送条数超限", MIDNIGHT),
    "LimitExceeded.PhoneNumberSameContentDailyLimit": _limit("该号码当日相同内容超限", MIDNIGHT),
    "LimitExceeded.DeliveryFrequencyLimit": _limit("命中发送频率限制策略", 60.0),
    # The application's daily quotas reset at midnight, Beijing time.
    "LimitExceeded.AppDailyLimit": _limit("应用当日发送量超限", MIDNIGHT),
    "LimitExceeded.DailyLimit": _limit("当日发送量超限", MIDNIGHT),
    "LimitExceeded.AppGlobalDailyLimit": _limit("应用当日发送量超限", MIDNIGHT),
    "LimitExceeded.AppMainlandChinaDailyLimit": _limit("应用当日国内发送量超限", MIDNIGHT),
    "LimitExceeded.AppCountryOrRegionDailyLimit": _limit("应用当日该地区发送量超限", MIDNIGHT),
    # Not transient although named so: more than 200 numbers is a bug here, not a quota.
    "LimitExceeded.PhoneNumberCountLimit": _rule(_P, "单次请求号码超过200个"),
    "LimitExceeded.AppCountryOrRegionInBlacklist": _rule(_P, "该国家或地区被禁止发送"),
    # A clock off by over five minutes: the retry carries a fresh timestamp and signature.
    "AuthFailure.SignatureExpire": _retry("请求时间戳与腾讯云时间相差超过5分钟", None),
    "InternalError.RequestTimeException": _retry("请求时间异常", None),
    "FailedOperation.PhoneNumberInBlacklist": _rule(
        ErrorKind.OPTED_OUT, "号码在免打扰名单中（用户退订或运营商黑名单）"
    ),
    "FailedOperation.MarketingSendTimeConstraint": _rule(
        ErrorKind.HOLD, "营销短信只能在 8:00–22:00 发送"
    ),
    # Our side: every message of the template (or every message at all) fails alike.
    "FailedOperation.TemplateIncorrectOrUnapproved": _rule(_C, "短信模板未审核通过或内容不匹配"),
    "FailedOperation.TemplateUnapprovedOrNotExist": _rule(_C, "短信模板未审核通过或不存在"),
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": _rule(
        _C, "模板参数个数与审核通过的模板不一致"
    ),
    "FailedOperation.SignatureIncorrectOrUnapproved": _rule(_C, "短信签名未审核通过或格式错误"),
    "InvalidParameterValue.TemplateParameterFormatError": _rule(_C, "模板参数格式错误"),
    "InvalidParameterValue.SdkAppIdNotExist": _rule(_C, "短信应用 SdkAppId 不存在"),
    "FailedOperation.InsufficientBalanceInSmsPackage": _rule(_C, "短信套餐包余量不足"),
    # This message only: its number or its content.
    "InvalidParameterValue.IncorrectPhoneNumber": _rule(_P, "手机号格式错误"),
    "InvalidParameterValue.ContentLengthLimit": _rule(_P, "短信内容过长"),
    "InvalidParameterValue.TemplateParameterLengthLimit": _rule(_P, "模板参数超过长度上限"),
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": _rule(_P, "模板参数不能含链接"),
    "FailedOperation.ContainSensitiveWord": _rule(_P, "短信内容含敏感词"),
}
#: Families, tried in order when the exact code is not in :data:`ERROR_RULES`.
PREFIX_RULES: Final[tuple[tuple[str, ErrorRule], ...]] = (
    ("LimitExceeded", _limit("超过腾讯云频率或配额限制", 60.0)),
    ("RequestLimitExceeded", _limit("请求过于频繁", 1.0)),
    ("InternalError", _retry("腾讯云内部错误", None)),
    ("AuthFailure", _rule(_C, "腾讯云 API 密钥或签名校验失败")),
    ("UnauthorizedOperation", _rule(_C, "腾讯云账号未授权此操作")),
)
DEFAULT_RULE: Final = _rule(_P, "腾讯云拒绝发送")
#: Marketing SMS may go out from 08:00 Beijing time.
MARKETING_OPENS: Final = time(8, 0)


def rule_for(code: str) -> ErrorRule:
    """The rule of a provider error code (see :data:`ERROR_RULES`)."""
    exact = ERROR_RULES.get(code)
    if exact is not None:
        return exact
    for prefix, rule in PREFIX_RULES:
        if code == prefix or code.startswith(prefix + "."):
            return rule
    return DEFAULT_RULE


def classify_error(code: str, message: str, now: datetime) -> ChannelError:
    """A provider error code as the hub's typed error; the code is kept on it."""
    rule = rule_for(code)
    text = f"腾讯云短信：{rule.reason}（{code}）"
    if message and message != code:
        text += f"：{message}"
    match rule.kind:
        case ErrorKind.RETRY | ErrorKind.LIMIT:
            wait = seconds_until_midnight(now) if rule.wait == MIDNIGHT else rule.wait
            if rule.kind is ErrorKind.LIMIT and wait is not None:
                return RateLimitedError(text, code=code, retry_after=wait)
            return RetryableError(text, code=code, retry_after=wait)
        case ErrorKind.OPTED_OUT:
            return OptedOutError(text, code=code)
        case ErrorKind.CONFIG:
            return ProviderConfigError(text, code=code)
        case ErrorKind.HOLD:
            return HoldError(text, code=code, until=next_local(now, MARKETING_OPENS))
    return PermanentError(text, code=code)


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmsRequest:
    """One provider call: messages sharing a template and parameters, with their batch positions."""

    template_id: str
    params: tuple[str, ...]
    messages: tuple[OutboundMessage, ...]
    positions: tuple[int, ...]


def template_id_of(message: OutboundMessage, template_ids: Mapping[str, str]) -> str | None:
    """The approved template id for a message (see the module docstring for the order);
    ``template_ids`` maps a message kind to the id its ``meta.yaml`` declares."""
    explicit = message.params.get("sms_template_id")
    if explicit:
        return str(explicit)
    by_provider = message.params.get("template_ids")
    if isinstance(by_provider, Mapping) and by_provider.get("tencent"):
        return str(by_provider["tencent"])
    return template_ids.get(message.kind)


def template_params_of(message: OutboundMessage) -> tuple[str, ...]:
    """``TemplateParamSet`` of a message; the whole body when the message declares none."""
    for key in ("sms_params", "values"):
        values = message.params.get(key)
        if isinstance(values, list | tuple):
            return tuple(str(v) for v in values)
    return (message.body,)


class _ContextRequest(OpenRequest):
    """A request being filled, its ``SessionContext`` (the ids of its messages) kept under
    :data:`MAX_CONTEXT` bytes."""

    def __init__(self) -> None:
        super().__init__(MAX_NUMBERS)
        self.ids: list[int] = []
        self.context_length = 0

    def takes(self, number: str, message: OutboundMessage) -> bool:
        fits = super().takes(number, message)
        return fits and self._length_with(message.message_id) <= MAX_CONTEXT

    def add(self, position: int, number: str, message: OutboundMessage) -> None:
        self.context_length = self._length_with(message.message_id)
        super().add(position, number, message)
        self.ids.append(message.message_id)

    def _length_with(self, message_id: int) -> int:
        last = self.ids[-1] if self.ids else None
        if last is not None and message_id <= last:  # out of order: count it exactly
            return len(send_context([*self.ids, message_id]))
        return context_length_with(self.context_length, last, message_id)


def plan_requests(
    messages: Sequence[OutboundMessage], template_ids: Mapping[str, str]
) -> tuple[list[SmsRequest], dict[int, ChannelError]]:
    """Group messages into requests; messages that cannot be sent get their error by position.

    Identical (template id, parameters) share a request of at most 200 numbers; a number
    already in the open request starts another one, so each status maps back to one message.
    Mainland and other numbers never share a request (Tencent refuses the mix).
    """

    def key_of(message: OutboundMessage) -> tuple[str, tuple[str, ...], bool]:
        template_id = template_id_of(message, template_ids)
        if template_id is None:
            reason = f"腾讯云短信：消息类型 {message.kind} 没有已审核的短信模板 ID（NoTemplateId）"
            raise PermanentError(reason, code="NoTemplateId")
        mainland = e164(message.address).startswith("+86")
        return template_id, template_params_of(message), mainland

    groups, refused = plan_groups(messages, key_of, e164, _ContextRequest)
    requests = [
        SmsRequest(key[0], key[1], tuple(messages[p] for p in group), tuple(group))
        for key, group in groups
    ]
    return requests, refused


def build_request(
    messages: Sequence[OutboundMessage],
    settings: TencentSmsSettings,
    now: datetime,
    *,
    template_ids: Mapping[str, str] = NO_TEMPLATE_IDS,
) -> tuple[dict[str, str], bytes]:
    """Signed headers and body of one ``SendSms`` call for messages sharing template and params."""
    if not messages or len(messages) > MAX_NUMBERS:
        raise ValueError(f"a SendSms request carries 1 to {MAX_NUMBERS} numbers")
    template_id = template_id_of(messages[0], template_ids)
    params = template_params_of(messages[0])
    for message in messages[1:]:
        same_template = template_id_of(message, template_ids) == template_id
        if not same_template or template_params_of(message) != params:
            raise ValueError("messages of one request must share template id and parameters")
    if template_id is None:
        raise ValueError("no template id")
    request = SmsRequest(template_id, params, tuple(messages), tuple(range(len(messages))))
    return _signed(request, settings, int(now.timestamp()))


def _signed(
    request: SmsRequest, settings: TencentSmsSettings, timestamp: int
) -> tuple[dict[str, str], bytes]:
    payload = {
        "PhoneNumberSet": [e164(m.address) for m in request.messages],
        "SmsSdkAppId": settings.required("sdk_app_id"),
        "SignName": settings.required("sign_name"),
        "TemplateId": request.template_id,
        "TemplateParamSet": list(request.params),
        "SessionContext": send_context(m.message_id for m in request.messages),
    }
    return signed_call(ACTION, payload, settings, timestamp)


def signed_call(
    action: str, payload: Mapping[str, Any], settings: TencentSmsSettings, timestamp: int
) -> tuple[dict[str, str], bytes]:
    """Headers (TC3-signed) and body of one API 3.0 call of ``action``."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    host = _host(settings.endpoint)
    signature = tc3_signature(
        settings.required("secret_key"),
        service=SERVICE,
        timestamp=timestamp,
        canonical_headers=f"content-type:{CONTENT_TYPE}\nhost:{host.lower()}\n",
        payload=body,
    )
    headers = {
        "Authorization": authorization(
            settings.required("secret_id"), signature, service=SERVICE, timestamp=timestamp
        ),
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": VERSION,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Region": settings.region,
    }
    return headers, body


def e164(number: str) -> str:
    """A mainland number as Tencent answers it (``+86…``); other spellings normalised."""
    if number.startswith("+"):
        return number  # the importer stores E.164 already
    digits = number.strip().replace(" ", "").replace("-", "")
    if digits.startswith("+"):
        return digits
    if digits.startswith("0086"):
        return "+" + digits[2:]
    if len(digits) == 13 and digits.startswith("86"):
        return "+" + digits
    return "+86" + digits if len(digits) == 11 else digits


# --- responses --------------------------------------------------------------------------------


def read_reply(
    status: int, body: bytes, now: datetime, *, call: str, answer: str
) -> dict[str, Any]:
    """The ``Response`` object of an API 3.0 answer, or raise the hub's error: HTTP or an
    unreadable answer retryable, ``Response.Error`` by :data:`ERROR_RULES`. ``call`` and
    ``answer`` name them in the texts ("状态查询", "状态应答")."""
    if status != 200:
        raise RetryableError(f"腾讯云短信{call}返回 HTTP {status}", code=f"HTTP{status}")
    try:
        reply = json.loads(body)["Response"]
        if not isinstance(reply, dict):
            raise TypeError("Response is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise RetryableError(f"腾讯云短信{answer}无法解析：{exc}", code="BadResponse") from exc
    if "Error" in reply:
        err = reply["Error"] if isinstance(reply["Error"], dict) else {}
        raise classify_error(str(err.get("Code", "")), str(err.get("Message", "")), now)
    return reply


def parse_response(
    status: int, body: bytes, messages: Sequence[OutboundMessage], *, now: datetime
) -> list[Result]:
    """One result per message, in order, from a ``SendSms`` answer.

    Statuses are matched to messages by ``PhoneNumber`` (the request holds each number once);
    an entry without one falls back to its position.
    """
    try:
        reply = read_reply(status, body, now, call="接口", answer="应答")
    except ChannelError as whole:
        return [whole] * len(messages)
    statuses = [s for s in reply.get("SendStatusSet") or [] if isinstance(s, dict)]
    by_number: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(statuses):
        number = item.get("PhoneNumber")
        if number:
            by_number[e164(str(number))] = item
        elif index < len(messages):
            by_number.setdefault(e164(messages[index].address), item)
    results: list[Result] = []
    for message in messages:
        found = by_number.get(e164(message.address))
        if found is None:
            results.append(
                RetryableError("腾讯云短信应答缺少该号码的发送状态", code="MissingStatus")
            )
        elif found.get("Code") == "Ok":
            serial = str(found.get("SerialNo") or "") or None
            results.append(SendResult(message.message_id, serial))
        else:
            code, text = str(found.get("Code", "")), str(found.get("Message", ""))
            results.append(classify_error(code, text, now))
    return results


# --- the channel ------------------------------------------------------------------------------


class TencentSmsChannel(SmsChannel[TencentSmsSettings, SmsRequest]):
    """The ``sms`` channel through Tencent Cloud; posts through an HTTP client it does not own."""

    provider: ClassVar[str] = "tencent"
    limits: ClassVar[ChannelLimits] = TENCENT_LIMITS
    max_batch: ClassVar[int] = MAX_NUMBERS
    #: Carriers report most messages within seconds; a minute covers the slow ones.
    default_status_settle_seconds: ClassVar[float] = 60.0
    label: ClassVar[str] = "腾讯云短信"

    def plan(
        self, messages: Sequence[OutboundMessage]
    ) -> tuple[list[SmsRequest], dict[int, ChannelError]]:
        return plan_requests(messages, self.template_ids)

    def sign(self, request: SmsRequest) -> tuple[dict[str, str], bytes]:
        return _signed(request, self.settings, int(self._clock.now().timestamp()))

    def read(self, request: SmsRequest, status: int, body: bytes) -> list[Result]:
        return parse_response(status, body, request.messages, now=self._clock.now())

    def network_error(self, exc: Exception) -> str:
        return f"腾讯云短信接口连接失败：{type(exc).__name__} {exc}"

    def status_query(self) -> StatusQuery[int, Any]:
        """Tencent's status reports for the number (``PullSmsSendStatusByPhoneNumber``)."""
        from channels.sms.tencent_status import TencentStatusQuery  # it builds on this module

        return TencentStatusQuery(self.settings)
