"""Tencent Cloud SMS, API 3.0 ``SendSms`` (version 2021-01-11), signed with TC3-HMAC-SHA256.

Pure core, I/O at the edge: :func:`build_request` turns messages into signed headers and the
exact body bytes, :func:`parse_response` turns the provider's answer into one result per
message; :class:`TencentSmsChannel` only groups, posts through the shared
``aiohttp.ClientSession`` it is given, and maps network failures.

Where a message's template comes from (until the templates work is integrated):

- template id: ``params["sms_template_id"]``, else ``params["template_ids"]["tencent"]`` (the
  shape of ``Rendered.message_params``), else the id ``templates/<kind>/meta.yaml`` declares
  for the message's kind (``TencentSmsConfig.template_ids``, filled by the runtime), else the
  channel's ``default_template_id``; a message with none fails permanently (``NoTemplateId``)
  rather than going out unapproved;
- ``TemplateParamSet``: ``params["sms_params"]`` (a list of strings, in the template's declared
  order), else ``params["values"]`` (again ``Rendered.message_params``), else the whole body as
  the single parameter.

Batching: messages whose template id and parameters are identical share one request of at most
200 numbers (``PhoneNumberSet``); personalised messages go one request each, concurrently, with
at most ``concurrency`` requests in flight per channel.

Error mapping (``Code`` of ``SendStatusSet[i]`` per number, or ``Response.Error.Code`` for the
whole request): ``Ok`` → :class:`SendResult` with the ``SerialNo``; ``LimitExceeded.*``,
``RequestLimitExceeded*`` and ``InternalError*`` → :class:`RetryableError` with ``retry_after``
until the provider's window resets; everything else (template, signature, auth, blacklist,
bad number...) → :class:`PermanentError` carrying the provider's code.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, ClassVar, Final

import aiohttp
from yarl import URL

from channels.base import (
    ChannelError,
    OutboundMessage,
    PermanentError,
    RetryableError,
    SendResult,
)
from hub.clock import SHANGHAI, Clock

SERVICE: Final = "sms"
ACTION: Final = "SendSms"
VERSION: Final = "2021-01-11"
ALGORITHM: Final = "TC3-HMAC-SHA256"
# Signed and sent byte for byte: the signature covers it, so no library may add to it.
CONTENT_TYPE: Final = "application/json; charset=utf-8"
SIGNED_HEADERS: Final = "content-type;host"
MAX_NUMBERS: Final = 200
DEFAULT_ENDPOINT: Final = "https://sms.tencentcloudapi.com"

Result = SendResult | ChannelError


@dataclass(frozen=True, slots=True)
class TencentSmsConfig:
    """What a request needs: credentials, app, signature and where to send (validated config)."""

    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    endpoint: str = DEFAULT_ENDPOINT
    region: str = "ap-guangzhou"
    #: Message kind -> approved template id (from the templates' meta.yaml).
    template_ids: Mapping[str, str] = field(default_factory=dict)
    default_template_id: str | None = None

    @property
    def host(self) -> str:
        """The Host header exactly as sent (and signed): the port only when not the default."""
        return _host(self.endpoint)


@functools.lru_cache(maxsize=16)
def _host(endpoint: str) -> str:
    url = URL(endpoint)
    if url.host is None:
        raise ValueError(f"endpoint {endpoint!r} has no host")
    return url.host if url.is_default_port() else f"{url.host}:{url.port}"


# --- TC3-HMAC-SHA256 ------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """The derived key of one UTC day and service; cached because it changes once a day."""
    secret_date = _hmac(("TC3" + secret_key).encode(), date)
    return _hmac(_hmac(secret_date, service), "tc3_request")


def tc3_signature(
    secret_key: str,
    *,
    service: str,
    timestamp: int,
    canonical_headers: str,
    payload: bytes,
    signed_headers: str = SIGNED_HEADERS,
    method: str = "POST",
    query: str = "",
) -> str:
    """The hex signature of one request (Tencent's API 3.0 "signature v3" steps 1–3).

    ``canonical_headers`` is ``key:value\\n`` per signed header, keys and values lowercased
    and trimmed, sorted by key (see :func:`canonical_headers`). The credential date is the
    UTC date of ``timestamp``, whatever the local zone.
    """
    canonical_request = "\n".join(
        (method, "/", query, canonical_headers, signed_headers, hashlib.sha256(payload).hexdigest())
    )
    date = utc_date(timestamp)
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            str(timestamp),
            f"{date}/{service}/tc3_request",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    key = tc3_signing_key(secret_key, date, service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_headers(headers: Mapping[str, str]) -> str:
    """``key:value\\n`` lines of the given headers, lowercased, trimmed and sorted by key."""
    lines = sorted((k.strip().lower(), v.strip().lower()) for k, v in headers.items())
    return "".join(f"{k}:{v}\n" for k, v in lines)


def utc_date(timestamp: int) -> str:
    """The credential-scope date: UTC, never local (01:00 in Beijing is yesterday in UTC)."""
    return _utc_day(timestamp // 86_400)


@functools.lru_cache(maxsize=8)
def _utc_day(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmsRequest:
    """One provider call: messages sharing a template and parameters, with their batch positions."""

    template_id: str
    params: tuple[str, ...]
    messages: tuple[OutboundMessage, ...]
    positions: tuple[int, ...]


def template_id_of(message: OutboundMessage, config: TencentSmsConfig) -> str | None:
    """The approved template id for a message (see the module docstring for the order)."""
    explicit = message.params.get("sms_template_id")
    if explicit:
        return str(explicit)
    by_provider = message.params.get("template_ids")
    if isinstance(by_provider, Mapping) and by_provider.get("tencent"):
        return str(by_provider["tencent"])
    return config.template_ids.get(message.kind) or config.default_template_id


def template_params_of(message: OutboundMessage) -> tuple[str, ...]:
    """``TemplateParamSet`` of a message; the whole body when the message declares none."""
    for key in ("sms_params", "values"):
        values = message.params.get(key)
        if isinstance(values, list | tuple):
            return tuple(str(v) for v in values)
    return (message.body,)


def plan_requests(
    messages: Sequence[OutboundMessage], config: TencentSmsConfig
) -> tuple[list[SmsRequest], dict[int, ChannelError]]:
    """Group messages into requests; messages that cannot be sent get their error by position.

    Identical (template id, parameters) share a request of at most 200 numbers; a number
    already in a request starts another one, so each status maps back to one message.
    """
    refused: dict[int, ChannelError] = {}
    open_groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    closed: list[tuple[tuple[str, tuple[str, ...]], list[int]]] = []
    numbers: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    for position, message in enumerate(messages):
        template_id = template_id_of(message, config)
        if template_id is None:
            refused[position] = PermanentError(
                f"消息类型 {message.kind} 没有腾讯云短信模板 ID", code="NoTemplateId"
            )
            continue
        key = (template_id, template_params_of(message))
        group = open_groups.get(key)
        number = e164(message.address)
        if group is not None and (len(group) >= MAX_NUMBERS or number in numbers[key]):
            closed.append((key, group))
            group = None
        if group is None:
            group = open_groups[key] = []
            numbers[key] = set()
        group.append(position)
        numbers[key].add(number)
    closed.extend(open_groups.items())
    requests = [
        SmsRequest(key[0], key[1], tuple(messages[p] for p in group), tuple(group))
        for key, group in closed
    ]
    return requests, refused


def build_request(
    messages: Sequence[OutboundMessage], settings: TencentSmsConfig, now: datetime
) -> tuple[dict[str, str], bytes]:
    """Signed headers and body of one ``SendSms`` call for messages sharing template and params."""
    if not messages or len(messages) > MAX_NUMBERS:
        raise ValueError(f"a SendSms request carries 1 to {MAX_NUMBERS} numbers")
    template_id = template_id_of(messages[0], settings)
    params = template_params_of(messages[0])
    for message in messages[1:]:
        same_template = template_id_of(message, settings) == template_id
        if not same_template or template_params_of(message) != params:
            raise ValueError("messages of one request must share template id and parameters")
    if template_id is None:
        raise ValueError("no template id")
    request = SmsRequest(template_id, params, tuple(messages), tuple(range(len(messages))))
    return _signed(request, settings, int(now.timestamp()))


def _signed(
    request: SmsRequest, settings: TencentSmsConfig, timestamp: int
) -> tuple[dict[str, str], bytes]:
    payload = {
        "PhoneNumberSet": [e164(m.address) for m in request.messages],
        "SmsSdkAppId": settings.sdk_app_id,
        "SignName": settings.sign_name,
        "TemplateId": request.template_id,
        "TemplateParamSet": list(request.params),
    }
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    host = settings.host
    signature = tc3_signature(
        settings.secret_key,
        service=SERVICE,
        timestamp=timestamp,
        canonical_headers=f"content-type:{CONTENT_TYPE}\nhost:{host.lower()}\n",
        payload=body,
    )
    scope = f"{utc_date(timestamp)}/{SERVICE}/tc3_request"
    headers = {
        "Authorization": f"{ALGORITHM} Credential={settings.secret_id}/{scope}, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": ACTION,
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

_DAILY = "daily"
# Seconds until the provider lets the message through again (_DAILY: next Beijing midnight).
_RETRY_AFTER: Final[dict[str, float | str]] = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": 30.0,
    "LimitExceeded.PhoneNumberOneHourLimit": 3600.0,
    "LimitExceeded.PhoneNumberDailyLimit": _DAILY,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": _DAILY,
    "LimitExceeded.AppDailyLimit": _DAILY,
    "LimitExceeded.DailyLimit": _DAILY,
    "LimitExceeded.AppCountryOrRegionDailyLimit": _DAILY,
    "LimitExceeded.AppGlobalDailyLimit": _DAILY,
    "LimitExceeded.AppMainlandChinaDailyLimit": _DAILY,
    "LimitExceeded.DeliveryFrequencyLimit": 60.0,
    # An account problem an admin fixes (top-up); retry slowly meanwhile.
    "FailedOperation.InsufficientBalanceInSmsPackage": 600.0,
    "UnauthorizedOperation.ServiceSuspendDueToArrears": 600.0,
}
# Not transient although the prefix says so: we sent more than 200 numbers (a bug here).
_PERMANENT_LIMITS: Final = frozenset({"LimitExceeded.PhoneNumberCountLimit"})
# Marketing SMS may only go out 08:00–22:00 Beijing time: wait for the window.
_MARKETING_WINDOW: Final = "FailedOperation.MarketingSendTimeConstraint"


def classify_error(code: str, message: str, now: datetime | None = None) -> ChannelError:
    """A provider error code as the hub's retryable or permanent error (code kept)."""
    text = f"{code}: {message}" if message else code
    if code in _PERMANENT_LIMITS:
        return PermanentError(text, code=code)
    if code in _RETRY_AFTER:
        wait = _RETRY_AFTER[code]
        after = _until(now, time(0, 0)) if wait == _DAILY else float(wait)
        return RetryableError(text, code=code, retry_after=after)
    if code == _MARKETING_WINDOW:
        return RetryableError(text, code=code, retry_after=_until(now, time(8, 0)))
    if code.startswith("LimitExceeded"):
        return RetryableError(text, code=code, retry_after=60.0)
    if code.startswith("RequestLimitExceeded"):
        return RetryableError(text, code=code, retry_after=1.0)
    if code.startswith("InternalError") or code == "AuthFailure.SignatureExpire":
        # A fresh timestamp and signature on the retry; a clock that stays wrong ends dead.
        return RetryableError(text, code=code)
    return PermanentError(text, code=code)


def _until(now: datetime | None, at: time) -> float:
    """Seconds from ``now`` to the next ``at`` in Beijing time (an hour when now is unknown)."""
    if now is None:
        return 3600.0
    local = now.astimezone(SHANGHAI)
    target = datetime.combine(local.date(), at, tzinfo=SHANGHAI)
    if target <= local:
        target += timedelta(days=1)
    return (target - local).total_seconds()


def parse_response(
    status: int,
    body: bytes,
    messages: Sequence[OutboundMessage],
    *,
    now: datetime | None = None,
) -> list[Result]:
    """One result per message, in order, from a ``SendSms`` answer."""
    if status != 200:
        error = RetryableError(f"HTTP {status}", code=f"HTTP{status}")
        return [error] * len(messages)
    try:
        reply = json.loads(body)["Response"]
        if not isinstance(reply, dict):
            raise TypeError("Response is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        error = RetryableError(f"unreadable SendSms answer: {exc}", code="BadResponse")
        return [error] * len(messages)
    if "Error" in reply:
        err = reply["Error"] or {}
        whole = classify_error(str(err.get("Code", "")), str(err.get("Message", "")), now)
        return [whole] * len(messages)
    by_number: dict[str, dict[str, Any]] = {}
    for item in reply.get("SendStatusSet") or []:
        if isinstance(item, dict):
            by_number[e164(str(item.get("PhoneNumber", "")))] = item
    results: list[Result] = []
    for message in messages:
        item = by_number.get(e164(message.address))
        if item is None:
            results.append(RetryableError("no SendStatus for this number", code="MissingStatus"))
        elif item.get("Code") == "Ok":
            results.append(SendResult(message.message_id, str(item.get("SerialNo") or "") or None))
        else:
            code, text = str(item.get("Code", "")), str(item.get("Message", ""))
            results.append(classify_error(code, text, now))
    return results


# --- the channel ------------------------------------------------------------------------------


class TencentSmsChannel:
    """The ``sms`` channel through Tencent Cloud; posts through a session it does not own."""

    name: ClassVar[str] = "sms"
    provider: ClassVar[str] = "tencent"
    max_batch: ClassVar[int] = MAX_NUMBERS
    default_qps: ClassVar[float] = 50.0

    def __init__(
        self,
        config: TencentSmsConfig,
        session: aiohttp.ClientSession,
        clock: Clock,
        *,
        qps: float | None = None,
        concurrency: int = 64,
        timeout_s: float = 10.0,
    ) -> None:
        self.config = config
        #: The configured rate; the dispatcher's token bucket holds the provider to it.
        self.qps = qps or self.default_qps
        self._session = session
        self._clock = clock
        self._url = URL(config.endpoint).with_path("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        # Bounds requests in flight across concurrent batches of this channel.
        self._slots = asyncio.Semaphore(concurrency)

    async def send_batch(self, messages: Sequence[OutboundMessage]) -> list[Result]:
        requests, refused = plan_requests(messages, self.config)
        results: list[Result | None] = [None] * len(messages)
        for position, error in refused.items():
            results[position] = error
        answers = await asyncio.gather(*(self._post(r) for r in requests))
        for request, answer in zip(requests, answers, strict=True):
            for position, result in zip(request.positions, answer, strict=True):
                results[position] = result
        return [r for r in results if r is not None]

    async def _post(self, request: SmsRequest) -> list[Result]:
        async with self._slots:
            # Signed when the slot is free, so a long wait cannot make the timestamp stale.
            now = self._clock.now()
            headers, body = _signed(request, self.config, int(now.timestamp()))
            try:
                async with self._session.post(
                    self._url, data=body, headers=headers, timeout=self._timeout
                ) as response:
                    status, raw = response.status, await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = RetryableError(f"{type(exc).__name__}: {exc}", code="Network")
                return [error] * len(request.messages)
        return parse_response(status, raw, request.messages, now=now)

    async def aclose(self) -> None:
        """The HTTP session belongs to the runtime, which closes it."""
