"""Plays the WeChat Official Account / WeCom servers calling the hub's callback URL.

It builds callbacks the way the platforms do — the same query parameters, the same XML, signed
with the app's Token and (safe mode, and always for WeCom) encrypted with its EncodingAESKey
for its AppID / CorpID — and sends them, retrying like WeChat (5 s timeout, up to 3 tries,
until the answer is ``success`` or empty)::

    push = WechatPush.official_account(token="tk", encoding_aes_key=KEY, app_id="wx...")
    request = push.text("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "5")
    response = await push.send(request, "/webhooks/wechat/main", client=client)

Builders are pure and return a :class:`CallbackRequest` (send the same one twice to play a
redelivery); a push built with another token, key or AppID plays a forger, and one with its own
clock plays a replay of an old request.

For drills against a running hub::

    python -m channels.fakes wechat_push --url http://127.0.0.1:8000/webhooks/wechat/main \\
        --kind official_account --token T --aes-key K --app-id wx... text OPENID 5
"""

from __future__ import annotations

import argparse
import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx

from channels.wechat.crypto import WechatCrypto, build_xml, sign
from hub.core.clock import Clock, SystemClock

Kind = Literal["official_account", "wecom"]
# WeChat waits this long for an answer, then tries again, three tries in all.
TIMEOUT_S = 5.0
ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """One callback as it goes on the wire; ``message`` is the XML before encryption."""

    method: Literal["GET", "POST"]
    params: dict[str, str]
    body: bytes = b""
    message: str = ""


def _msg_id_counter() -> itertools.count[int]:
    """64-bit MsgIds like WeChat's, from a random start so two fakes do not collide."""
    return itertools.count(7_000_000_000_000_000_000 + secrets.randbelow(10**12))


@dataclass(slots=True)
class WechatPush:
    """A WeChat/WeCom server for one app. ``safe_mode`` (Official Account) encrypts bodies."""

    kind: Kind
    token: str
    receive_id: str  # the AppID (Official Account) or CorpID (WeCom)
    encoding_aes_key: str | None = None
    agent_id: str | None = None
    safe_mode: bool = True
    original_id: str = "gh_7f083739789a"  # an Official Account's own id (its ToUserName)
    clock: Clock = field(default_factory=SystemClock)
    answer_timeout_s: float = TIMEOUT_S  # how long the platform waits for the hub's answer
    _msg_ids: itertools.count[int] = field(init=False, repr=False, default_factory=_msg_id_counter)

    @classmethod
    def official_account(
        cls, *, token: str, app_id: str, encoding_aes_key: str | None = None,
        safe_mode: bool = True, clock: Clock | None = None,
    ) -> WechatPush:  # fmt: skip
        return cls("official_account", token, app_id, encoding_aes_key,
                   safe_mode=safe_mode and encoding_aes_key is not None,
                   clock=clock or SystemClock())  # fmt: skip

    @classmethod
    def wecom(
        cls, *, token: str, corp_id: str, agent_id: str, encoding_aes_key: str,
        clock: Clock | None = None,
    ) -> WechatPush:  # fmt: skip
        return cls("wecom", token, corp_id, encoding_aes_key, agent_id=agent_id,
                   clock=clock or SystemClock())  # fmt: skip

    # --- pure builders --------------------------------------------------------------------------

    def _crypto(self) -> WechatCrypto:
        if not self.encoding_aes_key:
            raise ValueError("this app has no EncodingAESKey: encrypted callbacks need one")
        return WechatCrypto(self.token, self.encoding_aes_key, self.receive_id)

    def _stamp(self) -> tuple[str, str]:
        return str(int(self.clock.now().timestamp())), str(secrets.randbelow(10**10))

    def verify(self, echostr: str | None = None) -> CallbackRequest:
        """The GET a platform sends when an admin saves the callback URL."""
        timestamp, nonce = self._stamp()
        plain = echostr or str(secrets.randbelow(10**19))
        if self.kind == "wecom":
            sealed = self._crypto().seal(plain.encode())
            params = {"msg_signature": sign(self.token, timestamp, nonce, sealed),
                      "timestamp": timestamp, "nonce": nonce, "echostr": sealed}  # fmt: skip
        else:
            params = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp,
                      "nonce": nonce, "echostr": plain}  # fmt: skip
        return CallbackRequest("GET", params, message=plain)

    def callback(self, sender: str, fields: Mapping[str, str | int]) -> CallbackRequest:
        """A POST carrying one message or event from ``sender`` (``fields`` after the header)."""
        timestamp, nonce = self._stamp()
        to_user = self.receive_id if self.kind == "wecom" else self.original_id
        header: dict[str, str | int] = {"ToUserName": to_user, "FromUserName": sender,
                                        "CreateTime": int(timestamp)}  # fmt: skip
        extra: dict[str, str | int] = {"AgentID": int(self.agent_id or 0)} if self.agent_id else {}
        message = build_xml({**header, **fields, **extra})
        if self.kind == "official_account" and not self.safe_mode:
            params = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp,
                      "nonce": nonce, "openid": sender}  # fmt: skip
            return CallbackRequest("POST", params, message.encode(), message)
        sealed = self._crypto().seal(message.encode())
        msg_signature = sign(self.token, timestamp, nonce, sealed)
        if self.kind == "wecom":
            params = {"msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce}
            envelope = {"ToUserName": to_user, "AgentID": self.agent_id or "", "Encrypt": sealed}
        else:
            params = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp,
                      "nonce": nonce, "openid": sender, "encrypt_type": "aes",
                      "msg_signature": msg_signature}  # fmt: skip
            envelope = {"ToUserName": to_user, "Encrypt": sealed}
        return CallbackRequest("POST", params, build_xml(envelope).encode(), message)

    def _next_msg_id(self, msg_id: int | None) -> int:
        return next(self._msg_ids) if msg_id is None else msg_id

    def text(self, sender: str, content: str, *, msg_id: int | None = None) -> CallbackRequest:
        """A text message the user typed."""
        return self.callback(sender, {"MsgType": "text", "Content": content,
                                      "MsgId": self._next_msg_id(msg_id)})  # fmt: skip

    def voice(
        self, sender: str, media_id: str, *, recognition: str | None = None,
        msg_id: int | None = None,
    ) -> CallbackRequest:  # fmt: skip
        """A voice message (``Recognition`` when the account turned speech recognition on)."""
        fields: dict[str, str | int] = {"MsgType": "voice", "MediaId": media_id, "Format": "amr"}
        if recognition is not None:
            fields["Recognition"] = recognition
        return self.callback(sender, {**fields, "MsgId": self._next_msg_id(msg_id)})

    def image(self, sender: str, media_id: str, *, msg_id: int | None = None) -> CallbackRequest:
        """A picture the user sent."""
        return self.callback(sender, {"MsgType": "image",
                                      "PicUrl": f"http://mmbiz.qpic.cn/{media_id}",
                                      "MediaId": media_id,
                                      "MsgId": self._next_msg_id(msg_id)})  # fmt: skip

    def event(self, sender: str, event: str, **fields: str | int) -> CallbackRequest:
        """Any event (``Event`` plus its own fields)."""
        return self.callback(sender, {"MsgType": "event", "Event": event, **fields})

    def subscribe(self, sender: str, event_key: str = "") -> CallbackRequest:
        """The user followed the account (``qrscene_...`` key when through a QR code)."""
        extra = {"EventKey": event_key} if event_key else {}
        return self.event(sender, "subscribe", **extra)

    def unsubscribe(self, sender: str) -> CallbackRequest:
        """The user left the account."""
        return self.event(sender, "unsubscribe", EventKey="")

    def template_send_job_finish(
        self, sender: str, msg_id: int | str, status: str = "success"
    ) -> CallbackRequest:
        """The receipt of a template message (Status ``success``, ``failed:user block``, ...)."""
        return self.event(sender, "TEMPLATESENDJOBFINISH", MsgID=int(msg_id), Status=status)

    def template_card_click(
        self, sender: str, task_id: str, event_key: str, *,
        card_type: str = "button_interaction", response_code: str | None = None,
    ) -> CallbackRequest:  # fmt: skip
        """A WeCom member pressed a button of a template card."""
        return self.event(sender, "template_card_event", EventKey=event_key, TaskId=task_id,
                          CardType=card_type,
                          ResponseCode=response_code or secrets.token_hex(16))  # fmt: skip

    # --- I/O ------------------------------------------------------------------------------------

    async def send(
        self, request: CallbackRequest, url: str, *, client: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        """Send once (``url`` may be relative to ``client``'s base URL)."""
        if client is None:
            async with httpx.AsyncClient() as own:
                return await self.send(request, url, client=own)
        headers = {"Content-Type": "text/xml"} if request.method == "POST" else {}
        return await client.request(request.method, url, params=request.params,
                                    content=request.body or None, headers=headers,
                                    timeout=self.answer_timeout_s)  # fmt: skip

    async def deliver(
        self, request: CallbackRequest, url: str, *, client: httpx.AsyncClient | None = None,
        attempts: int = ATTEMPTS,
    ) -> list[httpx.Response | httpx.TimeoutException]:  # fmt: skip
        """Send as WeChat does: again after a timeout or an error answer, ``attempts`` in all."""
        outcomes: list[httpx.Response | httpx.TimeoutException] = []
        for _ in range(attempts):
            try:
                response = await self.send(request, url, client=client)
            except httpx.TimeoutException as exc:
                outcomes.append(exc)
                continue
            outcomes.append(response)
            if response.status_code == 200 and response.text in ("success", ""):
                break
        return outcomes


# --- command line (drills) ---------------------------------------------------------------------


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m channels.fakes wechat_push`` (:mod:`.serve`)."""
    parser.add_argument("--url", required=True, help="the hub's /webhooks/wechat/{app} URL")
    parser.add_argument("--kind", choices=("official_account", "wecom"), required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--aes-key", default=None, help="EncodingAESKey (none: plain mode)")
    parser.add_argument("--app-id", default="", help="AppID (official_account) or CorpID")
    parser.add_argument("--agent-id", default="1000002", help="WeCom AgentID")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("verify")
    text = sub.add_parser("text")
    text.add_argument("sender")
    text.add_argument("content")
    for name in ("subscribe", "unsubscribe"):
        sub.add_parser(name).add_argument("sender")
    receipt = sub.add_parser("receipt")
    receipt.add_argument("sender")
    receipt.add_argument("msg_id")
    receipt.add_argument("--status", default="success")
    card = sub.add_parser("card")
    card.add_argument("sender")
    card.add_argument("task_id")
    card.add_argument("key")


def _request(push: WechatPush, args: argparse.Namespace) -> CallbackRequest:
    match args.what:
        case "verify":
            return push.verify()
        case "text":
            return push.text(args.sender, args.content)
        case "subscribe":
            return push.subscribe(args.sender)
        case "unsubscribe":
            return push.unsubscribe(args.sender)
        case "receipt":
            return push.template_send_job_finish(args.sender, args.msg_id, args.status)
        case _:
            return push.template_card_click(args.sender, args.task_id, args.key)


async def run(args: argparse.Namespace) -> int:
    """Deliver one callback as WeChat does; print each answer; 0 when the last was a 200."""
    if args.kind == "wecom":
        push = WechatPush.wecom(token=args.token, corp_id=args.app_id, agent_id=args.agent_id,
                                encoding_aes_key=args.aes_key or "")  # fmt: skip
    else:
        push = WechatPush.official_account(token=args.token, app_id=args.app_id,
                                           encoding_aes_key=args.aes_key)  # fmt: skip
    outcomes = await push.deliver(_request(push, args), args.url)
    for outcome in outcomes:
        if isinstance(outcome, httpx.Response):
            print(outcome.status_code, outcome.text)
        else:
            print("timeout", type(outcome).__name__)
    last = outcomes[-1]
    return 0 if isinstance(last, httpx.Response) and last.status_code == 200 else 1
