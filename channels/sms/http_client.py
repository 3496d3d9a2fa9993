"""A lean HTTP/1.1 keep-alive client for one origin: the SMS providers' high-volume send calls.

Why not the shared ``aiohttp.ClientSession`` here: a personalised SMS is one provider request
(Tencent batches numbers only when parameters match), so the client's cost per request is the
hot path. Measured on this 2-core machine (``benchmarks/http_client.py``), posting signed
``SendSms`` requests to the loopback Tencent fake: aiohttp spends several times the CPU per
request that this client does, which is the difference between reaching the hub's 3,000
messages/s and not. Everything low-volume (WeChat, WeCom, tokens) stays on aiohttp.

What it does, and no more: ``POST``/``GET`` on pooled keep-alive connections (plain TCP or TLS
with the default, verifying context), ``Content-Length`` and ``chunked`` responses, a response
without either read until the server closes, ``Connection: close`` honoured. No redirects, no
cookies, no proxies, no compression (requests say ``Accept-Encoding: identity``). A failure is
an :class:`HttpError` (or ``TimeoutError``), and the connection it happened on is discarded,
never reused.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast

from yarl import URL

from hub.core.errors import HubError

__all__ = ["Build", "HttpClient", "HttpError", "HttpOrigin", "HttpResponse"]

#: Makes a request's headers and body, called once its connection slot is held.
Build = Callable[[], tuple[Mapping[str, str], bytes]]

_MAX_HEADER_BYTES: Final = 64 * 1024
_MAX_BODY_BYTES: Final = 16 * 1024 * 1024


class HttpError(HubError):
    """The request could not be completed: connect failure, reset, malformed answer."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete answer: status, headers (names lower-cased) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class _Connection(asyncio.Protocol):
    """One connection; at most one request in flight (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = True
        self._buffer = bytearray()
        self._waiter: asyncio.Future[HttpResponse] | None = None
        # Parse state of the answer being read.
        self._status = 0
        self._headers: dict[str, str] | None = None
        self._body_start = 0
        self._length: int | None = None
        self._chunked = False
        self._until_close = False

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            # Bytes nobody asked for: the connection's framing can no longer be trusted.
            self.reusable = False
            return
        try:
            response = self._parse()
        except HttpError as exc:
            self.reusable = False
            self._waiter.set_exception(exc)
            return
        if response is not None:
            self._waiter.set_result(response)

    def eof_received(self) -> bool | None:
        self.reusable = False
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._until_close and self._headers is not None:
            body = bytes(self._buffer[self._body_start :])
            waiter.set_result(HttpResponse(self._status, self._headers, body))
            return
        reason = f": {exc}" if exc else ""
        waiter.set_exception(HttpError(f"connection closed before a complete answer{reason}"))

    # --- requests ---------------------------------------------------------------------------

    def send(self, wire: bytes) -> asyncio.Future[HttpResponse]:
        """Write one request; the future resolves with its complete answer."""
        assert self.transport is not None
        self._buffer.clear()
        self._headers = None
        self._length = None
        self._chunked = self._until_close = False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(wire)
        return self._waiter

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def _parse(self) -> HttpResponse | None:
        buffer = self._buffer
        if self._headers is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEADER_BYTES:
                    raise HttpError("response headers too large")
                return None
            self._read_head(bytes(buffer[:end]).decode("latin-1"))
            self._body_start = end + 4
        assert self._headers is not None
        if self._until_close:
            if len(buffer) - self._body_start > _MAX_BODY_BYTES:
                raise HttpError("response body too large")
            return None
        if self._chunked:
            body = self._dechunk()
            if body is None:
                return None
        else:
            length = self._length or 0
            if len(buffer) - self._body_start < length:
                return None
            body = bytes(buffer[self._body_start : self._body_start + length])
            if len(buffer) > self._body_start + length:
                self.reusable = False  # more than was announced
        return HttpResponse(self._status, self._headers, body)

    def _read_head(self, head: str) -> None:
        status_line, *lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        self._status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError(f"malformed header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        self._headers = headers
        connection = headers.get("connection", "").lower()
        if connection == "close" or (parts[0] == "HTTP/1.0" and connection != "keep-alive"):
            self.reusable = False
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in headers:
            try:
                self._length = int(headers["content-length"])
            except ValueError as exc:
                raise HttpError("bad Content-Length") from exc
            if not 0 <= self._length <= _MAX_BODY_BYTES:
                raise HttpError("bad Content-Length")
        elif self._status in (204, 304) or 100 <= self._status < 200:
            self._length = 0
        else:
            self._until_close = True
            self.reusable = False

    def _dechunk(self) -> bytes | None:
        """The whole body once the last chunk (and trailers) arrived; None until then."""
        buffer, at = self._buffer, self._body_start
        parts: list[bytes] = []
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size_text = bytes(buffer[at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise HttpError("bad chunk size") from exc
            at = line_end + 2
            if size == 0:
                trailers_end = buffer.find(b"\r\n", at)
                while trailers_end >= 0 and trailers_end != at:  # skip trailer lines
                    at = trailers_end + 2
                    trailers_end = buffer.find(b"\r\n", at)
                if trailers_end < 0:
                    return None
                return b"".join(parts)
            if len(buffer) < at + size + 2:
                return None
            parts.append(bytes(buffer[at : at + size]))
            at += size + 2
            if at - self._body_start > _MAX_BODY_BYTES:
                raise HttpError("response body too large")


class HttpOrigin:
    """Pooled keep-alive connections to one ``scheme://host:port``, at most ``max_connections``.

    The pool is created lazily on the running loop and closed by :meth:`aclose`; requests wait
    for a free connection when all are busy.
    """

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 64,
        connect_timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host: str = url.host
        self.port: int = url.port or (443 if url.scheme == "https" else 80)
        self.host_header = url.host if url.is_default_port() else f"{url.host}:{url.port}"
        self._ssl: ssl.SSLContext | None = None
        if url.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context()
        self._connect_timeout = connect_timeout_s
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots = asyncio.Semaphore(max(1, max_connections))
        self._closed = False

    async def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"",
        *, timeout_s: float,
    ) -> HttpResponse:  # fmt: skip
        """Send one request (``target``: path and query) and return its complete answer.

        ``Host`` is added unless ``headers`` has it, and ``Content-Length`` always. Raises
        :class:`HttpError` or ``TimeoutError``.
        """
        return await self.request_built(method, target, lambda: (headers, body),
                                        timeout_s=timeout_s)  # fmt: skip

    async def request_built(
        self, method: str, target: str, build: Build, *, timeout_s: float
    ) -> HttpResponse:
        """:meth:`request` with headers and body from ``build()``: :meth:`request_many` of one."""
        (outcome,) = await self.request_many(method, target, [build], timeout_s=timeout_s)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def request_many(
        self, method: str, target: str, builds: Sequence[Build], *, timeout_s: float
    ) -> list[HttpResponse | Exception]:
        """Several requests, each built and written as soon as a connection is free, their
        answers awaited together; one outcome per request, in order.

        ``build()`` is called once the request's connection slot is held, so a signed request
        that waited for a connection is signed then and its timestamp is fresh; the origin's
        connection cap is the one limit on requests in flight. Connecting has ``timeout_s``,
        and the answers are awaited ``timeout_s`` after the last request was written. An
        outcome is the complete answer, or the request's :class:`HttpError`,
        ``TimeoutError`` (its connection is discarded, never reused) or the ``ValueError``
        its ``build()`` raised (not sent). Why together: a send group of 64 SMS is one wait,
        not 64 tasks, timers and coroutine chains (``benchmarks/http_client.py``).
        """
        if self._closed:
            raise HttpError("client closed")
        outcomes: dict[int, HttpResponse | Exception] = {}
        answers: dict[asyncio.Future[HttpResponse], int] = {}
        try:
            for index, build in enumerate(builds):
                await self._slots.acquire()
                try:
                    headers, body = build()
                    wire = self._wire(method, target, headers, body)
                    connection = self._idle_connection() or await self._connect(timeout_s)
                except (HttpError, TimeoutError, ValueError) as exc:
                    self._slots.release()
                    outcomes[index] = exc
                    continue
                except BaseException:
                    self._slots.release()
                    raise
                answer = connection.send(wire)
                answer.add_done_callback(functools.partial(self._returned, connection))
                answers[answer] = index
            if answers:
                await asyncio.wait(answers, timeout=timeout_s)
        finally:
            for answer in answers:
                if not answer.done():
                    answer.cancel()  # its connection is closed and its slot freed
        for answer, index in answers.items():
            if answer.cancelled():
                outcomes[index] = TimeoutError(f"no complete answer within {timeout_s:g} s")
            else:
                error = answer.exception()
                outcomes[index] = answer.result() if error is None else cast(Exception, error)
        return [outcomes[index] for index in range(len(builds))]

    def _returned(self, connection: _Connection, answer: asyncio.Future[HttpResponse]) -> None:
        """An answer came (or failed, or was given up): the connection back to the pool if it
        can carry another request, closed otherwise; its slot freed."""
        if (
            not answer.cancelled()
            and answer.exception() is None
            and connection.reusable
            and not self._closed
        ):
            self._idle.append(connection)
        else:
            connection.close()
        self._slots.release()

    def _wire(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
        lines = [f"{method} {target} HTTP/1.1"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if "Host" not in headers and "host" not in headers:
            lines.append(f"Host: {self.host_header}")
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Accept-Encoding: identity\r\n\r\n")
        try:
            return "\r\n".join(lines).encode("latin-1") + body
        except UnicodeEncodeError as exc:
            raise ValueError("HTTP headers must be latin-1") from exc

    def _idle_connection(self) -> _Connection | None:
        """A pooled connection still open, or None."""
        while self._idle:
            connection = self._idle.pop()
            transport = connection.transport
            if connection.reusable and transport is not None and not transport.is_closing():
                return connection
            connection.close()
        return None

    async def _connect(self, timeout_s: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout_s):
                _, protocol = await loop.create_connection(
                    _Connection, self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                    ssl_handshake_timeout=self._connect_timeout if self._ssl else None,
                )  # fmt: skip
        except OSError as exc:
            raise HttpError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return protocol

    async def aclose(self) -> None:
        """Close every idle connection; connections in use close when their request ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()
        await asyncio.sleep(0)  # let the transports run their close callbacks


class HttpClient:
    """One :class:`HttpOrigin` per ``scheme://host:port`` it is asked for; shared by a process.

    The SMS channels post through the one client the runtime creates and closes, as the other
    channels share the runtime's ``aiohttp.ClientSession``.
    """

    def __init__(
        self, *, max_connections_per_origin: int = 64, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._per_origin = max_connections_per_origin
        self._ssl = ssl_context
        self._origins: dict[str, HttpOrigin] = {}
        self._targets: dict[str, tuple[HttpOrigin, str]] = {}

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, timeout_s: float
    ) -> HttpResponse:
        """POST ``body`` to ``url``; see :meth:`HttpOrigin.request`."""
        return await self.post_built(url, lambda: (headers, body), timeout_s=timeout_s)

    async def post_built(self, url: str, build: Build, *, timeout_s: float) -> HttpResponse:
        """POST what ``build()`` returns once a connection is free; see
        :meth:`HttpOrigin.request_built`."""
        origin, target = self._origin_of(url)
        return await origin.request_built("POST", target, build, timeout_s=timeout_s)

    async def post_many(
        self, url: str, builds: Sequence[Build], *, timeout_s: float
    ) -> list[HttpResponse | Exception]:
        """POST each ``build()`` to ``url``, the answers awaited together; see
        :meth:`HttpOrigin.request_many`."""
        origin, target = self._origin_of(url)
        return await origin.request_many("POST", target, builds, timeout_s=timeout_s)

    def _origin_of(self, url: str) -> tuple[HttpOrigin, str]:
        found = self._targets.get(url)
        if found is None:
            found = self._targets[url] = self._resolve(url)
        return found

    def _resolve(self, url: str) -> tuple[HttpOrigin, str]:
        parsed = URL(url)
        key = f"{parsed.scheme}://{parsed.host}:{parsed.port}"
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = HttpOrigin(
                url, max_connections=self._per_origin, ssl_context=self._ssl
            )
        return origin, parsed.raw_path_qs or "/"

    async def aclose(self) -> None:
        """Close every origin's idle connections."""
        for origin in self._origins.values():
            await origin.aclose()
        self._origins.clear()
        self._targets.clear()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
