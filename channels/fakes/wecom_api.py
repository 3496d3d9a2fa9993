"""A loopback fake of the WeCom (企业微信) app API: ``gettoken`` and ``message/send``.

It speaks WeCom's wire format (JSON, ``access_token`` in the query, every answer with
``errcode`` / ``errmsg``, errmsg ending in ``, hint: [...], from ip: ..., more info at ...``):

- ``GET /cgi-bin/gettoken?corpid=&corpsecret=``: 40013 for another corp, 40001 for a wrong
  secret; the same token while it has more than five minutes left, else a new one (7200 s).
  :meth:`WecomApiFake.expire_tokens` expires every token (42001 on use).
- ``POST /cgi-bin/message/send``: the token (41001 missing, 40014 unknown, 42001 expired), the
  ``agentid`` (40056), the msgtype (``text``, ``markdown``, ``template_card``; 40008 otherwise),
  the content (44004 empty), a ``button_interaction`` card (``task_id`` unique, at most 128
  bytes of letters, digits and ``_-@``: 42014; 1–6 buttons with distinct keys: 40058), and the
  recipients ``touser`` = ``a|b`` (at most 1000): members of :attr:`~WecomApiFake.users` get
  the message, others come back in ``invaliduser`` (lower-cased, as WeCom does), members of
  :attr:`~WecomApiFake.unlicensed` in ``unlicenseduser``; none valid → 81013.

Switches are :class:`channels.fakes.wechat_api.WechatApiSwitches` (latency, error rate answered
``-1``, one errcode for every send or for sends to some userids: 60020, 301002, 45009...).
Control routes as in the Official Account fake: ``/__fake__/received``, ``/__fake__/switches``,
``/__fake__/reset``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from aiohttp import web

from channels.fakes.wechat_api import Refused, WeixinFakeBase, json_body

MAX_USERS: Final = 1000
MAX_BUTTONS: Final = 6
_TASK_ID = re.compile(r"^[A-Za-z0-9_@-]{1,128}$")

ERRMSG: Final = {
    -1: "system busy",
    40001: "invalid credential",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40056: "invalid agentid",
    40058: "invalid parameter",
    41001: "access_token missing",
    42001: "access_token expired",
    42014: "taskid has existed or empty or exceed max len",
    44002: "empty post data",
    44004: "empty content",
    45009: "api freq out of limit",
    47001: "data format error",
    48002: "api forbidden",
    60020: "not allow to access from your ip",
    81013: "user & party & tag all invalid",
    301002: "not allow operate another agent with this accesstoken.",
}


class WecomApiFake(WeixinFakeBase):
    """One corp's WeCom app; :meth:`serve` runs it on a loopback port."""

    errmsgs = ERRMSG
    unknown_token_errcode = 40014

    def __init__(
        self,
        corp_id: str,
        secret: str,
        agent_id: int,
        *,
        users: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        super().__init__(clock=clock, seed=seed)
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id
        self.users: set[str] = {u.lower() for u in users}  # members in the app's visible range
        self.unlicensed: set[str] = set()
        self.task_ids: set[str] = set()
        self.routes.update({
            ("GET", "/cgi-bin/gettoken"): self._gettoken,
            ("POST", "/cgi-bin/message/send"): self._send,
        })  # fmt: skip

    def refusal(self, refused: Refused) -> web.Response:
        text = self.errmsgs.get(refused.errcode, "error")
        if refused.detail:
            text = f"{text}, {refused.detail}"
        hint = secrets.randbelow(10**25)
        errmsg = (
            f"{text}, hint: [{int(self.clock())}{hint:025d}], from ip: 127.0.0.1, "
            f"more info at https://open.work.weixin.qq.com/devtool/query?e={refused.errcode}"
        )
        return web.json_response({"errcode": refused.errcode, "errmsg": errmsg})

    def delivered(self, userid: str) -> list[dict[str, Any]]:
        """The bodies of the calls that delivered a message to ``userid``."""
        out = []
        for call in self.sent():
            users = {u.lower() for u in str(call.payload.get("touser", "")).split("|")}
            if userid.lower() in users - set(call.rejected):
                out.append(call.payload)
        return out

    async def _gettoken(self, request: web.BaseRequest) -> web.Response:
        if request.query.get("corpid") != self.corp_id:
            raise Refused(40013)
        if request.query.get("corpsecret") != self.secret:
            raise Refused(40001)
        token, expires_in = self.issue_token()
        return self.answer({"access_token": token, "expires_in": expires_in})

    async def _send(self, request: web.BaseRequest) -> web.Response:
        payload = await json_body(request)
        recipients = [u for u in str(payload.get("touser") or "").split("|") if u]
        try:
            self.check_token(request)
            if payload.get("agentid") != self.agent_id:
                raise Refused(40056)
            self._check_content(payload)
            if len(recipients) > MAX_USERS:
                raise Refused(40058, "touser exceed max size")
            imposed = self.switched_error(recipients)
            if imposed is not None:
                raise Refused(imposed)
            invalid = sorted({u.lower() for u in recipients} - self.users)
            if len(invalid) == len({u.lower() for u in recipients}):
                raise Refused(81013)
        except Refused as refused:
            self.record(request.path, payload, refused.errcode, None)
            raise
        unlicensed = sorted({u.lower() for u in recipients} & self.unlicensed)
        msgid = secrets.token_urlsafe(48)
        answer: dict[str, Any] = {
            "invaliduser": "|".join(invalid),
            "invalidparty": "",
            "invalidtag": "",
            "unlicenseduser": "|".join(unlicensed),
            "msgid": msgid,
        }
        card = payload.get("template_card")
        if payload.get("msgtype") == "template_card" and isinstance(card, Mapping):
            self.task_ids.add(str(card.get("task_id")))
            answer["response_code"] = secrets.token_urlsafe(32)
        self.record(request.path, payload, 0, msgid, rejected=invalid + unlicensed)
        return self.answer(answer)

    def _check_content(self, payload: Mapping[str, Any]) -> None:
        msgtype = payload.get("msgtype")
        if msgtype not in ("text", "markdown", "template_card"):
            raise Refused(40008)
        content = payload.get(msgtype)
        if not isinstance(content, Mapping):
            raise Refused(44004)
        if msgtype != "template_card":
            if not str(content.get("content") or "").strip():
                raise Refused(44004)
            return
        if content.get("card_type") != "button_interaction":
            return  # the other card types are not used by the hub; accepted as sent
        task_id = content.get("task_id")
        if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
            raise Refused(42014)
        if task_id in self.task_ids:
            raise Refused(42014)
        title = content.get("main_title")
        if not (isinstance(title, Mapping) and title.get("title")) and not content.get(
            "sub_title_text"
        ):
            raise Refused(40058, "main_title.title or sub_title_text required")
        buttons = content.get("button_list")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
            raise Refused(40058, "button_list size 1-6")
        keys = [b.get("key") for b in buttons if isinstance(b, Mapping)]
        if len(keys) != len(buttons) or not all(isinstance(k, str) and k for k in keys):
            raise Refused(40058, "button_list.key required")
        if len(set(keys)) != len(keys):
            raise Refused(40058, "button_list.key duplicated")
