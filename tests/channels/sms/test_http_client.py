"""The lean HTTP/1.1 client against a raw loopback server that answers byte for byte as told."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from channels.sms.http_client import Build, HttpClient, HttpError, HttpOrigin

Answer = Callable[[bytes], bytes | None]  # request bytes -> raw answer (None: close, no answer)


@asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[tuple[str, list[bytes], list[int]]]:
    """A server that reads one request at a time and writes ``answer(request)`` verbatim.

    Yields its base URL, the requests it read and one entry per accepted connection.
    """
    requests: list[bytes] = []
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                requests.append(request)
                raw = answer(request)
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
                if b"connection: close" in raw.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", requests, connections
    finally:
        server.close()
        await server.wait_closed()


def fixed(raw: bytes) -> Answer:
    return lambda _request: raw


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


async def test_a_content_length_answer_is_read_and_the_connection_reused() -> None:
    async with raw_server(fixed(OK)) as (url, requests, connections), HttpClient() as http:
        for _ in range(3):
            response = await http.post(f"{url}/", {"X-A": "1"}, b"{}", timeout_s=5)
            assert (response.status, response.body) == (200, b'{"ok":true}')
            assert response.headers["content-type"] == "application/json"
    assert len(connections) == 1  # keep-alive
    first = requests[0].decode()
    assert first.startswith("POST / HTTP/1.1\r\n")
    assert "X-A: 1\r\n" in first
    assert f"Host: {url.removeprefix('http://')}\r\n" in first
    assert "Content-Length: 2\r\n" in first
    assert first.endswith("\r\n\r\n{}")


async def test_a_chunked_answer_is_joined() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    async with raw_server(fixed(raw)) as (url, _, connections), HttpClient() as http:
        assert (await http.post(url, {}, b"", timeout_s=5)).body == b"hello, world"
        assert (await http.post(url, {}, b"", timeout_s=5)).body == b"hello, world"
    assert len(connections) == 1


async def test_connection_close_and_a_body_until_close_open_a_new_connection_next_time() -> None:
    answers = iter(
        [
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na",
            b"HTTP/1.0 200 OK\r\n\r\nread until the server closes",
            OK,
        ]
    )

    def answer(_request: bytes) -> bytes:
        raw = next(answers)
        return raw if b"HTTP/1.0" not in raw else raw + b"\r\nConnection: close\r\n"

    async with raw_server(answer) as (url, _, connections), HttpClient() as http:
        assert (await http.post(url, {}, b"", timeout_s=5)).body == b"a"
        until_close = await http.post(url, {}, b"", timeout_s=5)
        assert until_close.body.startswith(b"read until the server closes")
        assert (await http.post(url, {}, b"", timeout_s=5)).status == 200
    assert len(connections) == 3


async def test_a_server_that_hangs_up_without_answering_is_an_http_error() -> None:
    async with raw_server(lambda _r: None) as (url, _, _c), HttpClient() as http:
        with pytest.raises(HttpError, match="before a complete answer"):
            await http.post(url, {}, b"", timeout_s=5)


async def test_a_malformed_status_line_is_an_http_error() -> None:
    async with raw_server(fixed(b"SMTP ready\r\n\r\n")) as (url, _, _c), HttpClient() as http:
        with pytest.raises(HttpError, match="status line"):
            await http.post(url, {}, b"", timeout_s=5)


async def test_nobody_listening_is_an_http_error_and_silence_a_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    async with HttpClient() as http:
        with pytest.raises(HttpError, match="cannot connect"):
            await http.post(closed, {}, b"", timeout_s=5)
        partial = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"  # never completes
        async with raw_server(fixed(partial)) as (url, _, connections):
            with pytest.raises(TimeoutError):
                await http.post(url, {}, b"", timeout_s=0.2)
            # The timed-out connection is discarded, not handed to the next request.
            with pytest.raises(TimeoutError):
                await http.post(url, {}, b"", timeout_s=0.2)
            assert len(connections) == 2


async def test_connections_are_capped_and_requests_wait_for_a_free_one() -> None:
    async with raw_server(fixed(OK)) as (url, _, connections):
        origin = HttpOrigin(url, max_connections=2)
        try:
            answers = await asyncio.gather(
                *(origin.request("POST", "/", {}, b"", timeout_s=5) for _ in range(20))
            )
        finally:
            await origin.aclose()
    assert all(a.status == 200 for a in answers)
    assert len(connections) <= 2


async def test_a_built_request_is_built_only_once_its_connection_slot_is_held() -> None:
    in_flight = 0  # built and not yet answered by the server
    most_in_flight = 0

    def answer(_request: bytes) -> bytes:
        nonlocal in_flight
        in_flight -= 1
        return OK

    async with (
        raw_server(answer) as (url, requests, _c),
        HttpClient(max_connections_per_origin=2) as http,
    ):

        def build(n: int) -> Callable[[], tuple[dict[str, str], bytes]]:
            def made() -> tuple[dict[str, str], bytes]:
                nonlocal in_flight, most_in_flight
                in_flight += 1  # built: from here until its answer, the request holds a slot
                most_in_flight = max(most_in_flight, in_flight)
                return {"X-N": str(n)}, f"{n}".encode()

            return made

        singles = await asyncio.gather(*(http.post_built(url, build(n), timeout_s=5)
                                         for n in range(6)))  # fmt: skip
        together = await http.post_many(url, [build(n) for n in range(6, 12)], timeout_s=5)
    assert [a.status for a in singles] == [200] * 6
    assert [getattr(a, "status", a) for a in together] == [200] * 6
    assert most_in_flight == 2  # never built ahead of a free connection
    assert sorted(r.rsplit(b"\r\n\r\n", 1)[1] for r in requests) == sorted(
        f"{n}".encode() for n in range(12)
    )


async def test_requests_sent_together_each_get_their_own_outcome() -> None:
    def answer(request: bytes) -> bytes | None:
        body = request.rsplit(b"\r\n\r\n", 1)[1]
        if body == b"hang-up":
            return None  # closes without an answer
        if body == b"silent":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"  # never completes
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    def build(body: bytes, headers: dict[str, str] | None = None) -> Build:
        return lambda: (headers or {}, body)

    async with raw_server(answer) as (url, requests, connections), HttpClient() as http:
        outcomes = await http.post_many(url, [
            build(b"one"), build(b"hang-up"), build(b"x", {"X-Name": "主动服务"}),
            build(b"silent"), build(b"two"),
        ], timeout_s=0.5)  # fmt: skip
        one, hung_up, unbuildable, silent, two = outcomes
        assert [getattr(a, "body", a) for a in (one, two)] == [b"one", b"two"]
        assert isinstance(hung_up, HttpError)
        assert isinstance(unbuildable, ValueError)  # refused before sending
        assert isinstance(silent, TimeoutError)
        assert len(requests) == 4
        # The two good connections are pooled; the broken ones are not reused.
        again = await http.post_many(url, [build(b"three"), build(b"four")], timeout_s=5)
        assert [getattr(a, "body", a) for a in again] == [b"three", b"four"]
        assert len(connections) == 4


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HttpOrigin("ftp://example.org/")


async def test_non_latin1_header_values_are_refused_before_sending() -> None:
    async with raw_server(fixed(OK)) as (url, requests, _c), HttpClient() as http:
        with pytest.raises(ValueError, match="latin-1"):
            await http.post(url, {"X-Name": "主动服务"}, b"", timeout_s=5)
    assert requests == []
