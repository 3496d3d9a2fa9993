"""WeCom (企业微信) app messages to liaison officers and department staff.

Pure core, I/O at the edge: :func:`message_content` picks a message's msgtype and content,
:func:`plan_requests` groups messages with identical content into one ``message/send`` call of
at most 1000 users (``touser`` = ``a|b|c``), :func:`build_request` makes its JSON body and
:func:`parse_response` gives each message its result. :class:`WecomChannel` gets the token
(``gettoken``, cached in Redis by :mod:`channels.wechat.token`), posts through the shared
``aiohttp.ClientSession`` it is given, and retries once with a fresh token when WeCom refuses
the one it used (``AccessTokenCache.call_with_token``, shared with the Official Account).

msgtype of a message: ``params["wecom"]["msgtype"]`` when given (``text``, ``markdown`` or
``template_card``, the content under the same key, e.g. a card from :func:`rating_card` or
:func:`visit_card`; text and markdown default to the body); else ``template_card`` when the
message asks for choices (``params["choices"]``, drawn by :func:`choice_card`); else
``markdown`` when ``params["markdown"]`` is true; else ``text`` with the body.

Error mapping (``errcode``; HTTP 200 even for errors):

======================================  =============================================
answer                                  result
======================================  =============================================
0, user not in invaliduser              SendResult(provider_message_id=msgid)
0, user in invaliduser                  PermanentError "invaliduser" (left the corp or
                                        outside the app's visible range)
0, user in unlicenseduser               PermanentError "unlicenseduser"
40014 42001 (token refused)             drop the token, refresh, retry ONCE; then Retryable
81013 user & party & tag all invalid    PermanentError "invaliduser" for every user
60020 40056 301002 40013 40001 40091    ProviderConfigError (IP, agentid, app or secret)
40008 44004 40058 42014                 PermanentError (message refused as built)
45009 45033 (frequency / concurrency)   RateLimitedError (60 s / 1 s)
======================================  =============================================
The rest (-1, HTTP ≠ 200, network, an errcode not in the table) is common to the WeChat APIs:
:mod:`channels.wechat.base`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from channels.base import (
    ChannelError,
    ChannelLimits,
    Choices,
    OutboundMessage,
    PermanentError,
    ProviderConfigError,
    RateLimitedError,
    RetryableError,
    SendResult,
)
from channels.batching import each_concurrently, send_planned
from channels.wechat.base import WechatAppChannel, errcode_detail, unlisted_errcode
from channels.wechat.limits import WECOM_LIMITS
from channels.wechat.settings import WechatAppSettings
from channels.wechat.token import TokenApi, errcode_of, read_answer
from hub.core.vocab import RATING_LEVELS, VisitAnswer

#: The API as error texts name it.
API_NAME: Final = "企业微信"
TOKEN_PATH: Final = "/cgi-bin/gettoken"
SEND_PATH: Final = "/cgi-bin/message/send"
MAX_USERS: Final = 1000
MSGTYPES: Final = ("text", "markdown", "template_card")

Result = SendResult | ChannelError

_TASK_ID = re.compile(r"[A-Za-z0-9_@-]+")

# WeCom refuses a token with 40014 / 42001 (its 40001 means a wrong secret at gettoken);
# ``gettoken`` answers errcode 0 beside its token.
TOKENS: Final = TokenApi("企业微信", frozenset({40014, 42001}), errcode_must_be_zero=True)
_CONFIG: Final = {
    60020: "调用接口的 IP 不在企业微信应用的可信 IP 中",
    40056: "agentid 无效",
    301002: "access_token 不属于该应用（secret 与 agentid 不匹配）",
    40013: "企业 ID（corpid）无效",
    40001: "应用 secret 无效",
    40091: "应用 secret 无效",
    48002: "应用没有该接口权限",
}
_PERMANENT: Final = {
    81013: "接收人全部无效（不在应用可见范围或已离职）",
    40008: "消息类型无效",
    44004: "消息内容为空",
    40058: "消息参数不合法",
    42014: "模板卡片 task_id 重复、为空或超长",
}
_RETRY_AFTER: Final = {45009: ("企业微信接口调用频率超限", 60.0), 45033: ("接口并发超限", 1.0)}


@dataclass(frozen=True, slots=True)
class WecomRequest:
    """One ``message/send`` call: messages sharing msgtype and content, by batch position."""

    msgtype: str
    content: Mapping[str, Any]
    messages: tuple[OutboundMessage, ...]
    positions: tuple[int, ...]


# --- cards (pure) ----------------------------------------------------------------------------


def button_card(
    task_id: str, title: str, description: str, buttons: Sequence[tuple[str, str, int]]
) -> dict[str, Any]:
    """A ``button_interaction`` template card; buttons are ``(text, key, style)``.

    A click comes back as a ``template_card_event`` callback with the ``task_id`` and the
    button's key as ``EventKey``. ``task_id`` must be unique per app (letters, digits, ``_-@``,
    at most 128 bytes).
    """
    if not _TASK_ID.fullmatch(task_id) or len(task_id) > 128:
        raise ValueError(f"task_id {task_id!r}: letters, digits and _-@ only, at most 128 bytes")
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": title},
        "task_id": task_id,
        "button_list": [{"text": t, "style": s, "key": k} for t, k, s in buttons],
    }
    if description:
        card["sub_title_text"] = description
    return card


def rating_card(task_id: str, title: str, description: str) -> dict[str, Any]:
    """Five buttons "5 非常满意" … "1 非常不满意" with keys ``rating:5`` … ``rating:1``."""
    buttons = [(f"{n} {label}", f"rating:{n}", 1 if n >= 3 else 2) for n, label in RATING_LEVELS]
    return button_card(task_id, title, description, buttons)


def visit_card(
    task_id: str, title: str, description: str, slots: Sequence[str] = ()
) -> dict[str, Any]:
    """A visit proposal: "确认走访" (``visit:confirm``) or "申请改期" (``visit:reschedule``);
    with ``slots`` (the times offered, as shown), one button per slot ("1 12月8日（周二）上午9:30",
    key ``visit:slot:1`` …) and 申请改期. A click's ``TaskId`` names the visit (the ask id)."""
    if slots:
        buttons = [(f"{n} {label}", f"visit:slot:{n}", 1) for n, label in enumerate(slots, 1)]
        buttons.append((VisitAnswer.RESCHEDULE.label, f"visit:{VisitAnswer.RESCHEDULE.value}", 2))
    else:
        buttons = [
            (answer.label, f"visit:{answer.value}", 1 if answer is VisitAnswer.CONFIRM else 2)
            for answer in VisitAnswer
        ]
    return button_card(task_id, title, description, buttons)


def choice_card(choices: Choices, url: object = None) -> dict[str, Any]:
    """The card a message's choices ask for; a click on it opens ``url`` when there is one."""
    if not choices.ask_id:
        raise PermanentError("企业微信按钮卡片缺少 task_id (choices.ask_id)", code="no_card")
    try:
        if choices.kind == "rating":
            card = rating_card(choices.ask_id, choices.title, choices.detail)
        else:
            card = visit_card(choices.ask_id, choices.title, choices.detail, choices.slots)
    except ValueError as exc:
        raise PermanentError(f"企业微信按钮卡片：{exc}", code="no_card") from None
    if url:
        card["card_action"] = {"type": 1, "url": str(url)}
    return card


# --- requests (pure) -------------------------------------------------------------------------


def message_content(message: OutboundMessage) -> tuple[str, dict[str, Any]]:
    """``(msgtype, content)`` of a message, or :class:`PermanentError` when it names neither."""
    spec = message.params.get("wecom")
    if isinstance(spec, Mapping) and spec.get("msgtype"):
        msgtype = str(spec["msgtype"])
        if msgtype not in MSGTYPES:
            raise PermanentError(f"不支持的企业微信消息类型 {msgtype}", code="msgtype")
        content = spec.get(msgtype)
        if msgtype == "template_card":
            if not isinstance(content, Mapping) or not content.get("card_type"):
                raise PermanentError("模板卡片消息缺少 template_card 内容", code="no_card")
            return msgtype, dict(content)
        if isinstance(content, Mapping) and content.get("content"):
            return msgtype, {"content": str(content["content"])}
        return msgtype, _text(message)
    try:
        choices = message.choices
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"企业微信按钮卡片：{exc}", code="no_card") from None
    if choices is not None:
        return "template_card", choice_card(choices, message.params.get("url"))
    if message.params.get("markdown"):
        return "markdown", _text(message)
    return "text", _text(message)


def _text(message: OutboundMessage) -> dict[str, Any]:
    if not message.body.strip():
        raise PermanentError("企业微信消息内容为空", code="empty_body")
    return {"content": message.body}


def plan_requests(
    messages: Sequence[OutboundMessage],
) -> tuple[list[WecomRequest], dict[int, ChannelError]]:
    """Group identical content into calls of at most 1000 distinct users; refusals by position."""
    refused: dict[int, ChannelError] = {}
    open_groups: dict[str, tuple[str, dict[str, Any], list[int], set[str]]] = {}
    closed: list[tuple[str, dict[str, Any], list[int]]] = []
    for position, message in enumerate(messages):
        try:
            msgtype, content = message_content(message)
        except PermanentError as error:
            refused[position] = error
            continue
        key = json.dumps([msgtype, content], ensure_ascii=False, sort_keys=True)
        group = open_groups.get(key)
        user = message.address.lower()  # WeCom userids are case-insensitive
        if group is not None and (len(group[2]) >= MAX_USERS or user in group[3]):
            closed.append(group[:3])
            group = None
        if group is None:
            group = open_groups[key] = (msgtype, content, [], set())
        group[2].append(position)
        group[3].add(user)
    closed.extend(g[:3] for g in open_groups.values())
    requests = [
        WecomRequest(msgtype, content, tuple(messages[p] for p in group), tuple(group))
        for msgtype, content, group in closed
    ]
    return requests, refused


def build_request(request: WecomRequest, settings: WechatAppSettings) -> dict[str, Any]:
    """The ``message/send`` body of one call."""
    return {
        "touser": "|".join(m.address for m in request.messages),
        "msgtype": request.msgtype,
        "agentid": int(settings.required("agent_id")),
        request.msgtype: dict(request.content),
    }


# --- answers (pure) ---------------------------------------------------------------------------


def classify_errcode(errcode: int, errmsg: str) -> ChannelError:
    """A non-zero errcode as the hub's error (see the table in the module docstring)."""
    code = str(errcode)
    detail = errcode_detail(errcode, errmsg)
    if errcode in TOKENS.refusals:
        return RetryableError(f"企业微信拒绝了 access_token{detail}", code=code)
    if errcode in _CONFIG:
        return ProviderConfigError(_CONFIG[errcode] + detail, code=code)
    if errcode == 81013:
        return PermanentError(_PERMANENT[errcode] + detail, code="invaliduser")
    if errcode in _PERMANENT:
        return PermanentError(_PERMANENT[errcode] + detail, code=code)
    if errcode in _RETRY_AFTER:
        text, wait = _RETRY_AFTER[errcode]
        return RateLimitedError(text + detail, code=code, retry_after=wait)
    return unlisted_errcode(API_NAME, errcode, detail)


def _users(answer: Mapping[str, Any], key: str) -> set[str]:
    return {u.lower() for u in str(answer.get(key) or "").split("|") if u}


def parse_response(status: int, body: bytes, messages: Sequence[OutboundMessage]) -> list[Result]:
    """One result per message of the call, in order."""
    answer = read_answer(status, body)
    if isinstance(answer, RetryableError):
        return [answer] * len(messages)
    errcode = errcode_of(answer)
    if errcode != 0:
        error = classify_errcode(errcode, str(answer.get("errmsg", "")))
        return [error] * len(messages)
    invalid, unlicensed = _users(answer, "invaliduser"), _users(answer, "unlicenseduser")
    msgid = str(answer.get("msgid") or "") or None
    results: list[Result] = []
    for message in messages:
        user = message.address.lower()
        if user in invalid:
            results.append(
                PermanentError(
                    "企业微信账号无效（已离职、未激活或不在应用可见范围）", code="invaliduser"
                )
            )
        elif user in unlicensed:
            results.append(PermanentError("企业微信账号没有接口许可", code="unlicenseduser"))
        else:
            results.append(SendResult(message.message_id, msgid))
    return results


def parse_token_response(status: int, body: bytes) -> tuple[str, int]:
    """``(access_token, expires_in)`` from ``gettoken``, or raise the hub's error."""
    return TOKENS.parse(status, body, classify_errcode)


def is_token_refusal(results: Sequence[Result]) -> bool:
    """The whole call failed because WeCom refused its access token."""
    return bool(results) and all(TOKENS.refused(r) for r in results)


# --- the channel ------------------------------------------------------------------------------


class WecomChannel(WechatAppChannel):
    """The ``wecom`` channel through one WeCom app."""

    name: ClassVar[str] = "wecom"
    provider: ClassVar[str] = "wecom"
    api_name: ClassVar[str] = API_NAME
    limits: ClassVar[ChannelLimits] = WECOM_LIMITS
    max_batch: ClassVar[int] = 200
    default_qps: ClassVar[float] = 20.0

    async def send_batch(self, messages: Sequence[OutboundMessage]) -> list[Result]:
        requests, refused = plan_requests(messages)
        return await send_planned(
            len(messages), refused, requests, functools.partial(each_concurrently, self._send)
        )

    async def _send(self, request: WecomRequest) -> list[Result]:
        payload = build_request(request, self.settings)
        return await self.with_token(
            lambda token: self._post(payload, token, request.messages),
            is_token_refusal,
            lambda error: [error] * len(request.messages),
        )

    async def _post(
        self, payload: Mapping[str, Any], token: str, messages: Sequence[OutboundMessage]
    ) -> list[Result]:
        status, raw = await self.post_with_token(SEND_PATH, token, payload)
        return parse_response(status, raw, messages)

    async def fetch_token(self) -> tuple[str, int]:
        url = self._base.with_path(TOKEN_PATH).with_query(
            corpid=self.settings.required("corp_id"), corpsecret=self.settings.required("secret")
        )
        status, raw = await self.call("GET", url, None)
        return parse_token_response(status, raw)
