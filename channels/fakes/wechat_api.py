"""A loopback fake of the WeChat Official Account API: ``stable_token``, template and custom send.

It speaks WeChat's wire format (JSON bodies, ``access_token`` in the query, ``errcode`` /
``errmsg`` answers with HTTP 200, errmsg ending in `` rid: …``) and refuses what WeChat refuses:

- ``POST /cgi-bin/stable_token``: checks appid and secret (40013 / 40125); normal mode returns
  the current token while it has more than five minutes left (with the seconds left), else a
  new one valid 7200 s (the old one stays valid until its own expiry, as WeChat does);
  ``force_refresh`` invalidates the current token at once. :meth:`WechatApiFake.expire_tokens`
  makes every issued token expired (42001 on use) to drill the refresh path.
- ``POST /cgi-bin/message/template/send``: the token (41001 missing, 40001 unknown, 42001
  expired), the template id registered (40037), every registered field present and each value
  at most 20 characters without line breaks (47003), the openid: followers are accepted,
  :attr:`~WechatApiFake.unfollowed` answer 43004, :attr:`~WechatApiFake.refusing` 43101, any
  other openid 40003. ``client_msg_id`` repeated for an openid within ten minutes is not sent
  twice (the fake answers the first msgid; WeChat does not document its answer).
- ``POST /cgi-bin/message/custom/send``: the same token and openid checks, then the 48-hour
  window after the user's last message (:meth:`~WechatApiFake.user_messaged`; 45015 outside)
  and five replies per user message (45047).

Switches (:class:`WechatApiSwitches`): latency, a share of sends answered ``-1`` (system busy),
one errcode for every send or for some openids only, and whether to record.

In a test::

    fake = WechatApiFake("wx0123456789abcdef", "secret")
    fake.follow("o-user-1")
    fake.add_template("TPL1", ["thing1", "time2"])
    async with fake.serve() as base_url:
        ...  # point the channel's api_base at base_url; inspect fake.received

Not part of WeChat's API, for drills: ``GET /__fake__/received``, ``POST /__fake__/switches``
(JSON of switch fields), ``POST /__fake__/reset``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import random
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

TOKEN_TTL_S: Final = 7200
RENEW_WINDOW_S: Final = 300  # normal-mode stable_token hands out a new token in the last 5 min
CUSTOM_WINDOW_S: Final = 48 * 3600
CUSTOM_REPLIES: Final = 5  # customer-service messages allowed per user message
DEDUPE_S: Final = 600  # client_msg_id: one message per openid and id within ten minutes
MAX_FIELD_CHARS: Final = 20
_LINE_BREAK = re.compile(r"[\r\n\v\f\x85\u2028\u2029]")

ERRMSG: Final = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40013: "invalid appid",
    40014: "invalid access_token",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
}


class Refused(Exception):
    """Answer ``{"errcode": errcode, "errmsg": ...}``."""

    def __init__(self, errcode: int, detail: str = "") -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.detail = detail


@dataclass(slots=True)
class WechatApiSwitches:
    """What the fake should get wrong (both fakes use this shape)."""

    latency_s: float = 0.0  # wait before answering any call
    error_rate: float = 0.0  # share of message sends answered -1 (system busy)
    errcode: int | None = None  # answer every message send with this errcode ...
    errcode_for: tuple[str, ...] = ()  # ... or only sends to these recipients
    record: bool = True  # keep what was received (off: a long drill keeps no memory)


@dataclass(frozen=True, slots=True)
class ReceivedCall:
    """One message-send call the fake answered (``at`` epoch seconds); ``errcode`` 0 = sent."""

    at: float
    path: str
    payload: dict[str, Any]
    errcode: int
    msgid: str | None
    rejected: tuple[str, ...] = ()  # recipients the call did not reach (WeCom invaliduser)


class WeixinFakeBase:
    """The parts both WeChat fakes share: serving, tokens, switches, answers, recording.

    Subclasses fill :attr:`routes` with ``(method, path) -> handler`` and answer through
    :meth:`answer` / :meth:`refusal`.
    """

    errmsgs: Mapping[int, str] = ERRMSG
    #: What a token this fake never issued answers (the Official Account says 40001).
    unknown_token_errcode: int = 40001

    def __init__(self, *, clock: Callable[[], float] = time.time, seed: int = 0) -> None:
        self.clock = clock
        self.switches = WechatApiSwitches()
        self.received: list[ReceivedCall] = []
        self.token_calls = 0  # token requests answered with a token
        self._tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self._current: str | None = None
        self._random = random.Random(seed)
        self._msgids = itertools.count(2_000_000_001)
        self._rids = itertools.count(1)
        self.routes: dict[tuple[str, str], Callable[[web.BaseRequest], Awaitable[web.Response]]]
        self.routes = {
            ("GET", "/__fake__/received"): self._received_view,
            ("POST", "/__fake__/switches"): self._switches_view,
            ("POST", "/__fake__/reset"): self._reset_view,
        }

    # --- serving ------------------------------------------------------------------------

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Listen on ``host:port`` (0: any free port); yield the base URL; stop on exit."""
        server = web.Server(self._route, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False)
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

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        view = self.routes.get((request.method, request.path))
        if view is None:
            raise web.HTTPNotFound()
        if self.switches.latency_s and not request.path.startswith("/__fake__/"):
            await asyncio.sleep(self.switches.latency_s)
        try:
            return await view(request)
        except Refused as refused:
            return self.refusal(refused)

    def answer(self, data: Mapping[str, Any]) -> web.Response:
        body = {"errcode": 0, "errmsg": "ok", **data}
        return web.Response(
            body=json.dumps(body, ensure_ascii=False).encode(), content_type="application/json"
        )

    def refusal(self, refused: Refused) -> web.Response:
        text = self.errmsgs.get(refused.errcode, "error")
        if refused.detail:
            text = f"{text} {refused.detail}"
        body = {"errcode": refused.errcode, "errmsg": f"{text} {self.rid()}"}
        return web.Response(
            body=json.dumps(body, ensure_ascii=False).encode(), content_type="application/json"
        )

    def rid(self) -> str:
        return f"rid: {int(self.clock()):08x}-{next(self._rids):08x}-{secrets.token_hex(4)}"

    # --- tokens -------------------------------------------------------------------------

    def issue_token(self, *, force: bool = False) -> tuple[str, int]:
        """The current token (normal mode) or a new one; ``force`` invalidates the current one."""
        now = self.clock()
        current = self._current
        left = self._tokens.get(current, 0.0) - now if current else 0.0
        if force and current:
            self._tokens.pop(current, None)
        elif current and left > RENEW_WINDOW_S:
            self.token_calls += 1
            return current, int(left)
        token = secrets.token_urlsafe(96)
        self._tokens[token] = now + TOKEN_TTL_S
        self._current = token
        self.token_calls += 1
        return token, TOKEN_TTL_S

    def expire_tokens(self) -> None:
        """Every token issued so far is expired: its next use answers 42001."""
        now = self.clock()
        self._tokens = {token: min(expiry, now) for token, expiry in self._tokens.items()}
        self._current = None

    def check_token(self, request: web.BaseRequest) -> None:
        token = request.query.get("access_token", "")
        if not token:
            raise Refused(41001)
        expiry = self._tokens.get(token)
        if expiry is None:
            raise Refused(self.unknown_token_errcode)
        if self.clock() >= expiry:
            raise Refused(42001)

    # --- switches and recording ----------------------------------------------------------

    def switched_error(self, recipients: Iterable[str]) -> int | None:
        """The errcode the switches impose on a send to these recipients, if any."""
        s = self.switches
        if s.errcode is not None and (not s.errcode_for or set(recipients) & set(s.errcode_for)):
            return s.errcode
        if s.error_rate and self._random.random() < s.error_rate:
            return -1
        return None

    def next_msgid(self) -> int:
        return next(self._msgids)

    def record(
        self,
        path: str,
        payload: dict[str, Any],
        errcode: int,
        msgid: str | None,
        rejected: Iterable[str] = (),
    ) -> None:
        if self.switches.record:
            call = ReceivedCall(self.clock(), path, payload, errcode, msgid, tuple(rejected))
            self.received.append(call)

    def sent(self, path: str | None = None) -> list[ReceivedCall]:
        """Calls that delivered (errcode 0), optionally on one path."""
        return [r for r in self.received if r.errcode == 0 and path in (None, r.path)]

    def reset(self) -> None:
        """Forget what was received and switch every error off (tokens stay valid)."""
        self.switches = WechatApiSwitches()
        self.received.clear()

    async def _received_view(self, _request: web.BaseRequest) -> web.Response:
        return self.answer({"received": [dataclasses.asdict(r) for r in self.received]})

    async def _switches_view(self, request: web.BaseRequest) -> web.Response:
        changes = await request.json()
        if "errcode_for" in changes:
            changes["errcode_for"] = tuple(changes["errcode_for"])
        self.switches = dataclasses.replace(self.switches, **changes)
        return self.answer({"switches": dataclasses.asdict(self.switches)})

    async def _reset_view(self, _request: web.BaseRequest) -> web.Response:
        self.reset()
        return self.answer({})


async def json_body(request: web.BaseRequest) -> dict[str, Any]:
    """The request's JSON object, or the refusal WeChat gives a body it cannot read."""
    raw = await request.read()
    if not raw:
        raise Refused(44002)
    try:
        payload = json.loads(raw)
    except ValueError:
        raise Refused(47001) from None
    if not isinstance(payload, dict):
        raise Refused(47001)
    return payload


@dataclass(slots=True)
class _Conversation:
    last_message_at: float
    replies_left: int = CUSTOM_REPLIES


class WechatApiFake(WeixinFakeBase):
    """The Official Account API of one app; :meth:`serve` runs it on a loopback port."""

    def __init__(
        self,
        app_id: str,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        super().__init__(clock=clock, seed=seed)
        self.app_id = app_id
        self.secret = secret
        self.followers: set[str] = set()
        self.unfollowed: set[str] = set()  # known users who left: 43004
        self.refusing: set[str] = set()  # followers who turned template messages off: 43101
        self.templates: dict[str, tuple[str, ...]] = {}
        self._conversations: dict[str, _Conversation] = {}
        self._client_msg_ids: dict[tuple[str, str], tuple[float, int]] = {}
        self.routes.update({
            ("POST", "/cgi-bin/stable_token"): self._stable_token,
            ("POST", "/cgi-bin/message/template/send"): self._template_send,
            ("POST", "/cgi-bin/message/custom/send"): self._custom_send,
        })  # fmt: skip

    def follow(self, *openids: str) -> None:
        self.followers.update(openids)
        self.unfollowed.difference_update(openids)

    def unfollow(self, *openids: str) -> None:
        self.followers.difference_update(openids)
        self.unfollowed.update(openids)

    def add_template(self, template_id: str, fields: Iterable[str]) -> None:
        self.templates[template_id] = tuple(fields)

    def user_messaged(self, openid: str, at: float | None = None) -> None:
        """The user sent the account a message at ``at``: 48 hours of five replies open."""
        self._conversations[openid] = _Conversation(self.clock() if at is None else at)

    async def _stable_token(self, request: web.BaseRequest) -> web.Response:
        payload = await json_body(request)
        if payload.get("grant_type") != "client_credential":
            raise Refused(40002)
        if payload.get("appid") != self.app_id:
            raise Refused(40013)
        if payload.get("secret") != self.secret:
            raise Refused(40125)
        token, expires_in = self.issue_token(force=payload.get("force_refresh") is True)
        return web.json_response({"access_token": token, "expires_in": expires_in})

    async def _template_send(self, request: web.BaseRequest) -> web.Response:
        payload = await json_body(request)
        openid = str(payload.get("touser", ""))
        try:
            self.check_token(request)
            self._check_template(payload)
            self._check_openid(openid, template=True)
            imposed = self.switched_error([openid])
            if imposed is not None:
                raise Refused(imposed)
        except Refused as refused:
            self.record(request.path, payload, refused.errcode, None)
            raise
        now = self.clock()
        client_msg_id = payload.get("client_msg_id")
        if isinstance(client_msg_id, str) and client_msg_id:
            earlier = self._client_msg_ids.get((openid, client_msg_id))
            if earlier is not None and now - earlier[0] < DEDUPE_S:
                return self.answer({"msgid": earlier[1]})
        msgid = self.next_msgid()
        if isinstance(client_msg_id, str) and client_msg_id:
            self._client_msg_ids[(openid, client_msg_id)] = (now, msgid)
        self.record(request.path, payload, 0, str(msgid))
        return self.answer({"msgid": msgid})

    async def _custom_send(self, request: web.BaseRequest) -> web.Response:
        payload = await json_body(request)
        openid = str(payload.get("touser", ""))
        try:
            self.check_token(request)
            if payload.get("msgtype") != "text":
                raise Refused(47003, "msgtype")
            text = payload.get("text")
            if not isinstance(text, dict) or not str(text.get("content") or ""):
                raise Refused(47003, "text.content")
            self._check_openid(openid, template=False)
            conversation = self._conversations.get(openid)
            since = self.clock() - conversation.last_message_at if conversation else None
            if conversation is None or since is None or since > CUSTOM_WINDOW_S:
                raise Refused(45015)
            if conversation.replies_left <= 0:
                raise Refused(45047)
            imposed = self.switched_error([openid])
            if imposed is not None:
                raise Refused(imposed)
        except Refused as refused:
            self.record(request.path, payload, refused.errcode, None)
            raise
        conversation.replies_left -= 1
        self.record(request.path, payload, 0, None)
        return self.answer({})

    def _check_template(self, payload: Mapping[str, Any]) -> None:
        template_id = payload.get("template_id")
        if not isinstance(template_id, str) or template_id not in self.templates:
            raise Refused(40037)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise Refused(47003, "data")
        for name in self.templates[template_id]:
            item = data.get(name)
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, str) or not value:
                raise Refused(47003, f"data.{name}.value is empty")
            if len(value) > MAX_FIELD_CHARS or _LINE_BREAK.search(value):
                raise Refused(47003, f"data.{name}.value invalid")

    def _check_openid(self, openid: str, *, template: bool) -> None:
        if openid in self.unfollowed:
            raise Refused(43004 if template else 45015)
        if openid not in self.followers:
            raise Refused(40003)
        if template and openid in self.refusing:
            raise Refused(43101)
