"""A minimal HTTP/1.1 server for the fakes that benchmarks drive hard (the Tencent SMS fake).

The fake shares the benchmark's two cores with the hub it measures, so its cost per request is
taken from the hub's figure. aiohttp's low-level server spent about as much CPU per
``SendSms`` as the hub's whole send path; this server reads one request at a time per
connection (keep-alive, ``Content-Length`` bodies; no chunked requests, no pipelining beyond
answering in order) and hands the handler a :class:`Request`. Anything it cannot frame is
answered 400 and the connection closed.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["Handler", "Request", "Response", "serve"]

_MAX_HEAD: Final = 64 * 1024
_MAX_BODY: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    """One request as received: headers match case-insensitively, the body is raw bytes."""

    method: str
    path: str
    query_string: str
    headers: CIMultiDictProxy[str]
    body: bytes

    async def read(self) -> bytes:
        return self.body

    async def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Response:
    """An answer: status, body and its content type."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def of_json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(data, ensure_ascii=False).encode())


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class _Protocol(asyncio.Protocol):
    def __init__(self, handler: Handler, open_connections: set[_Protocol]) -> None:
        self._handler = handler
        self._open = open_connections
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._open.add(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._open.discard(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _next(self) -> None:
        """Start on the next complete request in the buffer, if there is one."""
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > _MAX_HEAD:
                self._refuse("request head too large")
            return
        try:
            request_line, *lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            method, target, version = request_line.split(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(version)
            headers: CIMultiDict[str] = CIMultiDict()
            for line in lines:
                name, sep, value = line.partition(":")
                if not sep:
                    raise ValueError(line)
                headers.add(name.strip(), value.strip())
            if "chunked" in headers.get("Transfer-Encoding", "").lower():
                raise ValueError("chunked request bodies are not supported")
            length = int(headers.get("Content-Length", "0"))
            if not 0 <= length <= _MAX_BODY:
                raise ValueError("Content-Length")
        except ValueError as exc:
            self._refuse(f"malformed request: {exc}")
            return
        if len(buffer) < end + 4 + length:
            return
        body = bytes(buffer[end + 4 : end + 4 + length])
        del buffer[: end + 4 + length]
        path, _, query = target.partition("?")
        close = headers.get("Connection", "").lower() == "close" or version == "HTTP/1.0"
        request = Request(method, path, query, CIMultiDictProxy(headers), body)
        self._busy = True
        task = asyncio.get_running_loop().create_task(self._handler(request))
        task.add_done_callback(lambda done: self._answer(done, close))

    def _answer(self, done: asyncio.Task[Response], close: bool) -> None:
        self._busy = False
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if done.cancelled() or done.exception() is not None:
            response = Response(500, b"internal error", "text/plain")
        else:
            response = done.result()
        reason = HTTPStatus(response.status).phrase if response.status in _STATUSES else ""
        head = (
            f"HTTP/1.1 {response.status} {reason}\r\n"
            f"Content-Type: {response.content_type}\r\n"
            f"Content-Length: {len(response.body)}\r\n"
            f"{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n"
        )
        transport.write(head.encode("latin-1") + response.body)
        if close:
            transport.close()
        elif self._buffer:
            self._next()

    def _refuse(self, reason: str) -> None:
        if self._transport is not None:
            body = reason.encode()
            self._transport.write(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            self._transport.close()


_STATUSES: Final = frozenset(s.value for s in HTTPStatus)


@asynccontextmanager
async def serve(handler: Handler, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Listen on ``host:port`` (0: any free port); yield the base URL; stop on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    loop = asyncio.get_running_loop()
    open_connections: set[_Protocol] = set()
    server = await loop.create_server(lambda: _Protocol(handler, open_connections), sock=sock)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.close()
        for connection in list(open_connections):
            connection.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # let the transports run their close callbacks
