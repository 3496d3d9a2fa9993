"""The SMS providers' callbacks served past FastAPI's routing: the webhooks' lean path.

SMS replies and receipts come by the hundred a second after a campaign, and each request spent
more CPU in FastAPI's routing, dependency solving and ``Request`` than in its own work.
:class:`LeanWebhooks` is a pure ASGI middleware that answers ``POST
/webhooks/sms/{provider}/{path_secret}/{kind}`` itself, calling the same provider functions the
FastAPI routes call (``TencentCallbacks``, ``AliyunPushes``), and hands every other request to
the app unchanged.

What the app's stack does for these requests still happens, and answers stay byte-identical:

- it sits inside the app's middleware (``create_app`` adds it before the body limit): the body
  limit (413 before the body is read, or once a streamed body passes it), the server-error
  handling (an exception is a plain 500, which the provider retries) and FastAPI's exception
  telemetry stay in front of it;
- the provider function verifies the path secret and the source address before it reads the
  body, and parses only a verified body;
- a refusal (``HTTPException``: 403, 413, 400 with its reason) is answered by FastAPI's own
  handler, as the routes' refusals are (the admin's error pages are for ``/admin/`` only);
- paths are matched as Starlette matches ``/webhooks/sms/tencent/{path_secret}/reply``: the
  decoded path, a secret of one or more characters without ``/``. Anything else — another
  method (405), a trailing slash, an app served under a ``root_path``, a request FastAPI's
  OpenTelemetry integration observes (its span names the route) — goes through FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.web.webhooks.context import BodyReader

__all__ = ["LeanHandler", "LeanRoutes", "LeanWebhooks"]

#: A provider function: (path secret, peer address, body reader) -> the answer.
LeanHandler = Callable[[str, str, BodyReader], Awaitable[Response]]
#: The lean routes by (provider, kind): ``/webhooks/sms/{provider}/{path_secret}/{kind}``.
LeanRoutes = dict[tuple[str, str], LeanHandler]

_PREFIX: Final = "/webhooks/sms/"
_TELEMETRY_KEY: Final = "fastapi.telemetry"  # set (not None) when FastAPI traces the request


class LeanWebhooks:
    """Answers the SMS callbacks of ``routes`` without FastAPI's routing; the rest to ``app``."""

    def __init__(self, app: ASGIApp, *, routes: Mapping[tuple[str, str], LeanHandler]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._match(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        handler, path_secret = found
        client = scope.get("client")

        async def read_body() -> bytes:
            return await _body(receive)

        try:
            response = await handler(path_secret, client[0] if client else "", read_body)
        except HTTPException as exc:
            response = await http_exception_handler(Request(scope, receive), exc)
        await response(scope, receive, send)

    def _match(self, scope: Scope) -> tuple[LeanHandler, str] | None:
        path: str = scope["path"]
        if (
            scope["method"] != "POST"
            or not path.startswith(_PREFIX)
            or scope.get("root_path")
            or scope.get(_TELEMETRY_KEY) is not None
        ):
            return None
        parts = path.split("/")  # "", "webhooks", "sms", provider, path secret, kind
        if len(parts) != 6 or not parts[4]:
            return None
        handler = self.routes.get((parts[3], parts[5]))
        return None if handler is None else (handler, parts[4])


async def _body(receive: Receive) -> bytes:
    """The whole body, as ``Request.body`` reads it (the body limit counts it as it comes)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
