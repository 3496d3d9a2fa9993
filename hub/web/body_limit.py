"""Request body limits, enforced before a body is read: a pure ASGI middleware.

Routes read a body with ``await request.body()``, which buffers all of it: without a limit in
front, an unauthenticated 200 MB POST costs the process hundreds of MB before any route can
refuse it. :class:`BodyLimitMiddleware` refuses with 413 at once when ``Content-Length`` is
over the limit (the body is never read), and otherwise counts the bytes as the route receives
them, so a chunked body (no ``Content-Length``) is cut off as soon as it passes the limit —
no more than the limit plus one chunk is ever held.

The limit is :data:`DEFAULT_MAX_BODY` for the whole app, and tighter (or, for a provider that
pushes big batches, looser) for the path prefixes the app gives (the webhooks' own
``MAX_BODY``); the longest matching prefix wins.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY", "BodyLimitMiddleware", "BodyTooLargeError"]

DEFAULT_MAX_BODY: Final = 1024 * 1024  # the API's JSON bodies are a few KB
_DETAIL: Final = "请求体过大 (request body too large)"


class BodyTooLargeError(HTTPException):
    """The body passed its route's limit while being received (raised from ``receive``).

    An :class:`HTTPException`, so that a route or FastAPI's body parsing, which turn other
    exceptions into 400/500, let it through and the app answers 413.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # The rest of the body is not read: the connection cannot serve another request.
        super().__init__(status_code=413, detail=_DETAIL, headers={"connection": "close"})


class BodyLimitMiddleware:
    """413 for a body over its route's limit, declared (``Content-Length``) or streamed.

    ``routes`` maps path prefixes to their limit in bytes; any other path gets ``default``.
    """

    def __init__(
        self, app: ASGIApp, *, default: int = DEFAULT_MAX_BODY, routes: Mapping[str, int] = {}
    ) -> None:
        self.app = app
        self.default = default
        # Longest prefix first, so /webhooks/sms/aliyun/ wins over /webhooks/.
        self.routes = sorted(routes.items(), key=lambda item: len(item[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        """The body limit of ``path``, in bytes."""
        for prefix, limit in self.routes:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is None:
            await _answer(send, 400, "Content-Length 无效 (invalid Content-Length)")
            return
        if declared > limit:
            await _answer(send, 413, _DETAIL)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            # Only when the app let it through (a route outside FastAPI's exception handling).
            if started:
                raise
            await _answer(send, 413, _DETAIL)


def _content_length(scope: Scope) -> int | None:
    """The declared length (0 when absent); ``None`` when the header is not one ASCII number."""
    values = {value for name, value in scope["headers"] if name == b"content-length"}
    if not values:
        return 0
    if len(values) > 1:
        return None
    (value,) = values
    text = value.strip()
    if not text or len(text) > 18 or not all(0x30 <= byte <= 0x39 for byte in text):
        return None
    return int(text)


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
