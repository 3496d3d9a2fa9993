"""A loopback fake of the Telegram Bot API on aiohttp, and a player of Telegram's side of webhooks.

It answers ``/bot<token>/<method>`` (GET or POST; query string, URL-encoded form, multipart or
JSON, as the real server accepts) with ``{"ok": true, "result": ...}`` or the real error shape
``{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3",
"parameters": {"retry_after": 3}}``. Methods: ``getMe``, ``sendMessage``, ``answerCallbackQuery``,
``setWebhook``, ``deleteWebhook``, ``getWebhookInfo``, ``getUpdates`` (offset confirms earlier
updates; ``timeout`` long-polls; 409 while a webhook is set, as Telegram does). Method names are
case-insensitive; another token is ``401 Unauthorized``, another method ``404 Not Found``.

Error switches (:class:`FakeSwitches`): ``error`` fails every call with one of :data:`ERRORS`,
``chat_errors`` fails ``sendMessage`` to given chats (``{"42": "blocked"}``), ``error_rate``
fails that fraction of ``sendMessage`` calls with ``random_error``; ``latency_s`` delays every
answer. What the bot did is recorded: :attr:`TelegramBotApiFake.sent`,
:attr:`~TelegramBotApiFake.callback_answers`, :attr:`~TelegramBotApiFake.calls`.

Playing Telegram's servers: :meth:`message_update`, :meth:`start_update` and
:meth:`callback_update` build real ``Update`` JSON (a callback answers the last message the bot
sent that chat, keyboard included); :meth:`push_update` queues one for ``getUpdates``;
:func:`webhook_request` gives the headers and body Telegram would POST to a webhook, and
:meth:`deliver` POSTs it to the URL ``setWebhook`` registered. In a test::

    fake = TelegramBotApiFake("123456:TEST-token")
    async with fake.serve() as base_url:
        bot = build_bot(TelegramSettings(token=fake.token, api_base=base_url))
        ...

As a process: ``python -m channels.fakes telegram_api --token 123456:TEST`` prints its base URL.
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
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web

SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT: Final = 4096
MAX_CALLBACK_DATA: Final = 64
#: Error switch name -> (HTTP status and error_code, description). 429 adds ``retry_after``.
ERRORS: Final[Mapping[str, tuple[int, str]]] = {
    "too_many_requests": (429, "Too Many Requests: retry after {retry_after}"),
    "blocked": (403, "Forbidden: bot was blocked by the user"),
    "deactivated": (403, "Forbidden: user is deactivated"),
    "chat_not_found": (400, "Bad Request: chat not found"),
    "unauthorized": (401, "Unauthorized"),
    "server_error": (500, "Internal Server Error"),
    "bad_gateway": (502, "Bad Gateway"),
}
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass(slots=True)
class FakeSwitches:
    """What the fake should get wrong. Change them between (or during) requests."""

    error: str | None = None  # every API call fails with this ERRORS key
    chat_errors: dict[str, str] = field(default_factory=dict)  # chat id -> ERRORS key
    error_rate: float = 0.0  # fraction of sendMessage calls failing with random_error
    random_error: str = "server_error"
    retry_after: int = 3  # seconds a 429 asks for
    latency_s: float = 0.0
    record: bool = True  # keep what the bot sent (off: a long drill keeps no memory)


@dataclass(frozen=True, slots=True)
class SentMessage:
    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool


class ApiError(Exception):
    """An answer ``{"ok": false, ...}`` with this status, description and parameters."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class TelegramBotApiFake:
    """The fake's state and handlers; :meth:`serve` runs it on a loopback port."""

    def __init__(
        self,
        token: str,
        *,
        username: str = "hub_test_bot",
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.bot_id = int(token.partition(":")[0])
        self.username = username
        self.clock = clock
        self.switches = FakeSwitches()
        self.sent: list[SentMessage] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.calls: list[str] = []  # API methods called, in order
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self._random = random.Random(seed)
        self._updates: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._confirmed = 0  # every update below this id was confirmed by getUpdates' offset
        self._confirm_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._closing = asyncio.Event()
        self._update_ids = itertools.count(100_000_001)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(4_000_000_000_000_001)
        self._open_queries: set[str] = set()
        self._last_sent: dict[int, SentMessage] = {}
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "answercallbackquery": self._answer_callback_query,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
        }

    def reset(self) -> None:
        """Forget what the bot did and switch every error off (updates stay queued)."""
        self.switches = FakeSwitches()
        self.sent.clear()
        self.callback_answers.clear()
        self.calls.clear()

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Listen on ``host:port`` (0: any free port); yield the base URL; stop on exit."""
        self._closing.clear()
        server = web.Server(self.route, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        try:
            await web.SockSite(runner, sock).start()
            yield f"http://{host}:{sock.getsockname()[1]}"
        finally:
            self._closing.set()  # wake long polls so shutdown does not wait for them
            self._arrived.set()
            await runner.cleanup()
            sock.close()

    async def route(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path.startswith("/__fake__/"):
            return await self._control(request)
        match = _PATH.match(request.path)
        if match is None:
            return _answer_error(ApiError(404, "Not Found"))
        if self.switches.latency_s:
            await asyncio.sleep(self.switches.latency_s)
        if match["token"] != self.token:
            return _answer_error(ApiError(401, "Unauthorized"))
        method = match["method"].lower()
        self.calls.append(method)
        try:
            params = await _params(request)
            if self.switches.error:
                raise self._error(self.switches.error)
            if method == "getupdates":
                result = await self._get_updates(params)
            elif method in self._methods:
                result = self._methods[method](params)
            else:
                raise ApiError(404, "Not Found")
        except ApiError as error:
            return _answer_error(error)
        return _json({"ok": True, "result": result})

    def _error(self, name: str) -> ApiError:
        status, description = ERRORS[name]
        if status == 429:
            retry = self.switches.retry_after
            return ApiError(429, description.format(retry_after=retry), {"retry_after": retry})
        return ApiError(status, description)

    # --- methods -------------------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Hub", "username": self.username}

    def _get_me(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {**self.bot_user(), "can_join_groups": False, "can_read_all_group_messages": False,
                "supports_inline_queries": False}  # fmt: skip

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        raw_chat = params.get("chat_id")
        if raw_chat in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(raw_chat)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = _reply_markup(params.get("reply_markup"))
        failure = self.switches.chat_errors.get(str(chat_id))
        if failure is None and self._random.random() < self.switches.error_rate:
            failure = self.switches.random_error
        if failure:
            raise self._error(failure)
        message_id = next(self._message_ids.setdefault(chat_id, itertools.count(1)))
        sent = SentMessage(chat_id, message_id, text, markup)
        self._last_sent[chat_id] = sent
        if self.switches.record:
            self.sent.append(sent)
        message = {"message_id": message_id, "from": self.bot_user(), "chat": _chat(chat_id),
                   "date": int(self.clock()), "text": text}  # fmt: skip
        if markup is not None:
            message["reply_markup"] = markup
        return message

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:  # unknown, or answered already
            raise ApiError(400, _QUERY_TOO_OLD)
        self._open_queries.discard(query_id)
        text = params.get("text")
        show_alert = str(params.get("show_alert", "")).lower() in ("true", "1")
        self.callback_answers.append(
            CallbackAnswer(query_id, str(text) if text else None, show_alert)
        )
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook_url = str(params.get("url") or "")
        self.webhook_secret = str(secret) if secret is not None and self.webhook_url else None
        if str(params.get("drop_pending_updates", "")).lower() in ("true", "1"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url, self.webhook_secret = "", None
        if str(params.get("drop_pending_updates", "")).lower() in ("true", "1"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}  # fmt: skip

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")  # fmt: skip
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        deadline = asyncio.get_running_loop().time() + float(params.get("timeout") or 0)
        if offset > 0:
            self._confirm(offset)
        while True:
            ready = [u for u in self._updates if u["update_id"] >= offset][:limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if ready or remaining <= 0 or self._closing.is_set():
                return ready
            self._arrived.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def _confirm(self, offset: int) -> None:
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._confirmed = max(self._confirmed, offset)
        for update_id, waiter in list(self._confirm_waiters):
            if update_id < self._confirmed and not waiter.done():
                waiter.set_result(None)
        self._confirm_waiters = [(i, w) for i, w in self._confirm_waiters if not w.done()]

    # --- playing Telegram's side ---------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for ``getUpdates``."""
        self._updates.append(update)
        self._arrived.set()

    async def confirmed(self, update_id: int) -> None:
        """Return once a ``getUpdates`` offset has confirmed ``update_id`` (the bot is done)."""
        if update_id < self._confirmed:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm_waiters.append((update_id, waiter))
        await waiter

    def message_update(
        self, chat_id: int, text: str, *, first_name: str = "王经理"
    ) -> dict[str, Any]:
        """An ``Update`` carrying a private text message from ``chat_id``."""
        message_id = next(self._message_ids.setdefault(chat_id, itertools.count(1)))
        message: dict[str, Any] = {
            "message_id": message_id, "from": _user(chat_id, first_name),
            "chat": _chat(chat_id, first_name), "date": int(self.clock()), "text": text,
        }  # fmt: skip
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
        return {"update_id": next(self._update_ids), "message": message}

    def start_update(self, chat_id: int, code: str) -> dict[str, Any]:
        """What a tap on ``https://t.me/<bot>?start=<code>`` sends: ``/start <code>``."""
        return self.message_update(chat_id, f"/start {code}")

    def callback_update(
        self, chat_id: int, data: str, *, first_name: str = "王经理"
    ) -> dict[str, Any]:
        """A press of a button with ``data`` on the last message the bot sent ``chat_id``."""
        query_id = str(next(self._callback_ids))
        self._open_queries.add(query_id)
        last = self._last_sent.get(chat_id)
        message: dict[str, Any] = {
            "message_id": last.message_id if last else 1, "from": self.bot_user(),
            "chat": _chat(chat_id, first_name), "date": int(self.clock()),
            "text": last.text if last else "请评价",
        }  # fmt: skip
        if last is not None and last.reply_markup is not None:
            message["reply_markup"] = last.reply_markup
        query = {"id": query_id, "from": _user(chat_id, first_name), "message": message,
                 "chat_instance": str(-chat_id * 7919), "data": data}  # fmt: skip
        return {"update_id": next(self._update_ids), "callback_query": query}

    async def deliver(self, update: dict[str, Any], session: aiohttp.ClientSession) -> int:
        """POST an update to the webhook ``setWebhook`` registered; the HTTP status."""
        if not self.webhook_url:
            raise RuntimeError("no webhook is set")
        headers, body = webhook_request(update, self.webhook_secret)
        async with session.post(self.webhook_url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    # --- control (not Telegram's API) ----------------------------------------------------

    async def _control(self, request: web.BaseRequest) -> web.Response:
        if request.path == "/__fake__/sent" and request.method == "GET":
            answers = [dataclasses.asdict(a) for a in self.callback_answers]
            sent = [dataclasses.asdict(s) for s in self.sent]
            return _json({"sent": sent, "callback_answers": answers})
        if request.path == "/__fake__/switches" and request.method == "POST":
            self.switches = dataclasses.replace(self.switches, **(await request.json()))
            return _json(dataclasses.asdict(self.switches))
        if request.path == "/__fake__/updates" and request.method == "POST":
            self.push_update(await request.json())
            return _json({"queued": True})
        if request.path == "/__fake__/reset" and request.method == "POST":
            self.reset()
            return _json({"reset": True})
        raise web.HTTPNotFound()


def webhook_request(update: Mapping[str, Any], secret: str | None) -> tuple[dict[str, str], bytes]:
    """The headers and body Telegram POSTs to a webhook for one update."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return headers, json.dumps(update, ensure_ascii=False).encode()


def _user(user_id: int, first_name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}


def _chat(chat_id: int, first_name: str = "王经理") -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "group", "title": "服务群"}
    return {"id": chat_id, "type": "private", "first_name": first_name}


async def _params(request: web.BaseRequest) -> dict[str, Any]:
    """Parameters as Telegram reads them: query string, then a form or JSON body."""
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON") from None
        if isinstance(body, dict):
            params.update(body)
    else:
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    return params


def _reply_markup(value: Any) -> dict[str, Any] | None:
    if value in (None, ""):
        return None
    try:
        markup = json.loads(value) if isinstance(value, str) else value
        rows = markup["inline_keyboard"]
        for row in rows:
            for button in row:
                if not str(button["text"]):
                    raise ValueError("empty button text")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object") from None
    return dict(markup)


def _answer_error(error: ApiError) -> web.Response:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": error.status,
        "description": error.description,
    }
    if error.parameters:
        body["parameters"] = error.parameters
    return _json(body, status=error.status)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data, ensure_ascii=False).encode(), status=status,
                        content_type="application/json")  # fmt: skip


def add_options(parser: argparse.ArgumentParser) -> None:
    """This fake's own options of ``python -m channels.fakes telegram_api`` (:mod:`.serve`)."""
    parser.add_argument("--token", required=True, help="the one bot token it accepts")
    parser.add_argument("--username", default="hub_test_bot")


def from_options(args: argparse.Namespace) -> TelegramBotApiFake:
    return TelegramBotApiFake(args.token, username=args.username)
