"""WeChat Official Account (公众号): template messages and customer-service text messages.

Pure core, I/O at the edge: :func:`build_request` turns a message into the API path and JSON
body, :func:`parse_response` turns WeChat's answer into a result; :class:`WechatMpChannel` gets
the access token (``stable_token``, cached in Redis by :mod:`channels.wechat.token`), posts
through the shared ``aiohttp.ClientSession`` it is given, and retries once with a fresh token
when WeChat refuses the one it used (``AccessTokenCache.call_with_token``, shared with WeCom).

Which API a message goes to:

- ``params["template_ids"]["wechat"]`` and ``params["fields"]`` (what ``Rendered.message_params``
  holds for a WeChat template) → ``/cgi-bin/message/template/send`` with ``data`` =
  ``{field: {"value": v}}``, ``url`` from ``params["url"]`` if any, and ``client_msg_id`` =
  ``hub-<message id>`` (WeChat sends one message per openid and id within ten minutes, so a
  retry after a lost answer does not send twice). Every field is checked before sending: at
  most 20 characters and no line break, else :class:`PermanentError` naming the field.
- no template id → customer-service text ``/cgi-bin/message/custom/send`` with the body (answers
  to a user's reply). WeChat allows these only within 48 hours of the user's last message, at
  most five per message: it answers 45015 / 45047 outside that, which fail permanently here
  so the dispatcher falls back to SMS. These answers carry no msgid.

Error mapping (``errcode`` in the answer; WeChat answers HTTP 200 even for errors):

====================================  ===============================================
errcode                               result
====================================  ===============================================
0                                     SendResult(provider_message_id=str(msgid))
40001 40014 42001 (token refused)     drop the token, refresh, retry ONCE; then Retryable
43004 require subscribe               OptedOutError (the user unfollowed)
43101 user refuse to accept the msg   OptedOutError (the user turned the messages off)
45015 response out of time limit      PermanentError (48-hour window closed)
45047 out of response count limit     PermanentError
40003 invalid openid                  PermanentError
40036 40037 47003 40013 40125 40164   ProviderConfigError (template, app or IP refused)
48001 api unauthorized                ProviderConfigError
45009 reach max api daily quota       RateLimitedError, retry_after = next 00:00 Shanghai
45011 api minute-quota reach limit    RateLimitedError, retry_after = 60 s
====================================  ===============================================
-1, HTTP ≠ 200, a network failure or an errcode not above: as every WeChat API does
(:mod:`channels.wechat.base`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from channels.wechat.base import WechatAppChannel, errcode_detail, unlisted_errcode
from channels.wechat.limits import WECHAT_MP_LIMITS
from channels.wechat.settings import WechatAppSettings
from channels.wechat.token import TOKEN_ERRCODES, TokenApi, errcode_of, read_answer
from hub.core.clock import seconds_until_midnight

#: The API as error texts name it.
API_NAME: Final = "微信"
TOKEN_PATH: Final = "/cgi-bin/stable_token"
TEMPLATE_PATH: Final = "/cgi-bin/message/template/send"
CUSTOM_PATH: Final = "/cgi-bin/message/custom/send"
MAX_FIELD_CHARS: Final = 20
#: ``stable_token``'s answers: a token counts whatever else the answer says.
TOKENS: Final = TokenApi("公众号", TOKEN_ERRCODES)

Result = SendResult | ChannelError

_LINE_BREAK = re.compile(r"[\r\n\v\f\x85\u2028\u2029]")

# What a clerk reads for each errcode (the English errmsg follows in parentheses).
_OPTED_OUT: Final = {43004: "用户未关注或已取消关注公众号", 43101: "用户已拒收公众号消息"}
_PERMANENT: Final = {
    45015: "超过 48 小时客服消息时限（用户 48 小时内未发消息）",
    45047: "客服消息条数超过上限（用户每条消息后最多回复 5 条）",
    40003: "openid 无效（不是本公众号的用户）",
}
_CONFIG: Final = {
    40036: "模板 ID 长度不正确",
    40037: "模板 ID 无效（未在公众号后台添加）",
    47003: "模板参数不符合要求",
    40013: "AppID 无效",
    40125: "AppSecret 无效",
    40164: "调用接口的 IP 不在公众号白名单中",
    48001: "公众号没有该接口权限",
    40002: "grant_type 无效",
    41002: "缺少 AppID",
    41004: "缺少 AppSecret",
}


@dataclass(frozen=True, slots=True)
class WechatRequest:
    """One API call for one message: the path under ``api_base`` and the JSON body."""

    path: str
    payload: dict[str, Any]


# --- requests (pure) --------------------------------------------------------------------------


def template_id_of(message: OutboundMessage) -> str | None:
    """The WeChat template id the message names (``params["template_ids"]["wechat"]``)."""
    ids = message.params.get("template_ids")
    if isinstance(ids, Mapping) and ids.get("wechat"):
        return str(ids["wechat"])
    return None


def check_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    """The fields as strings, or :class:`PermanentError` naming the first field WeChat refuses."""
    checked: dict[str, str] = {}
    for name, raw in fields.items():
        value = "" if raw is None else str(raw)
        if _LINE_BREAK.search(value):
            raise PermanentError(
                f"公众号模板字段 {name} 含有换行，模板字段只能是一行", code="field_line_break"
            )
        if len(value) > MAX_FIELD_CHARS:
            raise PermanentError(
                f"公众号模板字段 {name} 有 {len(value)} 个字，超过 {MAX_FIELD_CHARS} 个字的上限",
                code="field_too_long",
            )
        checked[str(name)] = value
    return checked


def build_request(message: OutboundMessage) -> WechatRequest:
    """The template or customer-service call for a message (see the module docstring)."""
    template_id = template_id_of(message)
    if template_id is None:
        if not message.body.strip():
            raise PermanentError("客服消息内容为空", code="empty_body")
        payload: dict[str, Any] = {
            "touser": message.address,
            "msgtype": "text",
            "text": {"content": message.body},
        }
        return WechatRequest(CUSTOM_PATH, payload)
    fields = message.params.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise PermanentError(f"公众号模板 {template_id} 没有字段", code="no_fields")
    data = {name: {"value": value} for name, value in check_fields(fields).items()}
    payload = {
        "touser": message.address,
        "template_id": template_id,
        "data": data,
        "client_msg_id": f"hub-{message.message_id}",
    }
    url = message.params.get("url")
    if isinstance(url, str) and url:
        payload["url"] = url
    return WechatRequest(TEMPLATE_PATH, payload)


def token_request(settings: WechatAppSettings) -> dict[str, Any]:
    """The ``stable_token`` body: normal mode, so every process gets the same token."""
    return {
        "grant_type": "client_credential",
        "appid": settings.required("app_id"),
        "secret": settings.required("secret"),
        "force_refresh": False,
    }


# --- answers (pure) ---------------------------------------------------------------------------


def classify_errcode(errcode: int, errmsg: str, now: datetime | None = None) -> ChannelError:
    """A non-zero errcode as the hub's error (see the table in the module docstring)."""
    code = str(errcode)
    detail = errcode_detail(errcode, errmsg)
    if errcode in TOKEN_ERRCODES:
        return RetryableError(f"微信拒绝了 access_token{detail}", code=code)
    if errcode in _OPTED_OUT:
        return OptedOutError(_OPTED_OUT[errcode] + detail, code=code)
    if errcode in _PERMANENT:
        return PermanentError(_PERMANENT[errcode] + detail, code=code)
    if errcode in _CONFIG:
        return ProviderConfigError(_CONFIG[errcode] + detail, code=code)
    if errcode == 45009:
        text, wait = f"公众号接口今日调用次数已用完{detail}", seconds_until_midnight(now)
        return RateLimitedError(text, code=code, retry_after=wait)
    if errcode == 45011:
        text = f"公众号接口每分钟调用次数超限{detail}"
        return RateLimitedError(text, code=code, retry_after=60.0)
    return unlisted_errcode(API_NAME, errcode, detail)


def parse_response(
    status: int, body: bytes, message: OutboundMessage, *, now: datetime | None = None
) -> Result:
    """The result of one send call for ``message``."""
    answer = read_answer(status, body)
    if isinstance(answer, RetryableError):
        return answer
    errcode = errcode_of(answer)
    if errcode != 0:
        return classify_errcode(errcode, str(answer.get("errmsg", "")), now)
    msgid = answer.get("msgid")
    return SendResult(message.message_id, None if msgid is None else str(msgid))


def parse_token_response(
    status: int, body: bytes, *, now: datetime | None = None
) -> tuple[str, int]:
    """``(access_token, expires_in)`` from ``stable_token``, or raise the hub's error."""
    return TOKENS.parse(status, body, lambda code, msg: classify_errcode(code, msg, now))


def is_token_refusal(result: Result) -> bool:
    """WeChat refused the access token the call carried (refresh and retry once)."""
    return TOKENS.refused(result)


# --- the channel ------------------------------------------------------------------------------


class WechatMpChannel(WechatAppChannel):
    """The ``wechat`` channel through one Official Account; one API call per message."""

    name: ClassVar[str] = "wechat"
    provider: ClassVar[str] = "wechat_mp"
    limits: ClassVar[ChannelLimits] = WECHAT_MP_LIMITS
    max_batch: ClassVar[int] = 50
    default_qps: ClassVar[float] = 50.0
    api_name: ClassVar[str] = API_NAME

    async def send_batch(self, messages: Sequence[OutboundMessage]) -> list[Result]:
        return list(await asyncio.gather(*(self._send(m) for m in messages)))

    async def _send(self, message: OutboundMessage) -> Result:
        try:
            request = build_request(message)
        except PermanentError as refused:
            return refused
        return await self.with_token(
            lambda token: self._post(request, token, message), is_token_refusal, _itself
        )

    async def _post(self, request: WechatRequest, token: str, message: OutboundMessage) -> Result:
        status, raw = await self.post_with_token(request.path, token, request.payload)
        return parse_response(status, raw, message, now=self._clock.now())

    async def fetch_token(self) -> tuple[str, int]:
        url = self._base.with_path(TOKEN_PATH)
        status, raw = await self.call("POST", url, token_request(self.settings))
        return parse_token_response(status, raw, now=self._clock.now())


def _itself(error: ChannelError) -> Result:
    return error
