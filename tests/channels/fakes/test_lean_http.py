"""The fakes' minimal HTTP/1.1 server: framing, keep-alive, errors, as a client sees them."""

from __future__ import annotations

import asyncio

from channels.fakes.lean_http import Request, Response, serve
from channels.sms.http_client import HttpClient


async def echo(request: Request) -> Response:
    if request.path == "/boom":
        raise RuntimeError("handler bug")
    data = {
        "method": request.method, "path": request.path, "query": request.query_string,
        "action": request.headers.get("x-tc-action"), "body": (await request.read()).decode(),
    }  # fmt: skip
    return Response.of_json(data)


async def raw_exchange(url: str, wire: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(wire)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()
    return answer


async def test_requests_are_framed_by_content_length_on_one_kept_connection() -> None:
    async with serve(echo) as url, HttpClient() as http:
        for i in range(3):
            answer = await http.post(
                f"{url}/send?x={i}", {"X-TC-Action": "SendSms"}, b'{"n":1}', timeout_s=5
            )
            assert answer.status == 200
            assert answer.headers["connection"] == "keep-alive"
            assert answer.body.decode() == (
                f'{{"method": "POST", "path": "/send", "query": "x={i}", '
                '"action": "SendSms", "body": "{\\"n\\":1}"}'
            )


async def test_pipelined_requests_are_answered_in_order_and_close_is_honoured() -> None:
    two = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1"
        b"POST /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\n2"
    )
    async with serve(echo) as url:
        answer = await raw_exchange(url, two)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.index(b'"path": "/a"') < answer.index(b'"path": "/b"')
    assert b"Connection: close" in answer


async def test_malformed_requests_get_400_and_a_handler_error_500() -> None:
    async with serve(echo) as url:
        chunked = await raw_exchange(
            url, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        assert chunked.startswith(b"HTTP/1.1 400 Bad Request")
        assert b"chunked request bodies are not supported" in chunked
        garbage = await raw_exchange(url, b"HELLO\r\n\r\n")
        assert garbage.startswith(b"HTTP/1.1 400 Bad Request")
        async with HttpClient() as http:
            failed = await http.post(f"{url}/boom", {}, b"", timeout_s=5)
        assert failed.status == 500


async def test_handlers_that_wait_answer_in_order_and_a_failure_after_a_wait_is_500() -> None:
    finished: list[str] = []

    async def handler(request: Request) -> Response:
        if request.path.startswith("/slow"):
            await asyncio.sleep(0.05)  # suspends: the server finishes it in a task
            if request.path == "/slow-boom":
                raise RuntimeError("handler bug after a wait")
        finished.append(request.path)
        return Response.of_json({"path": request.path})

    three = (
        b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        b"POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        b"POST /slow-boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    async with serve(handler) as url:
        answer = await raw_exchange(url, three)
    assert finished == ["/slow", "/fast"]  # the second waited for the first's answer
    assert answer.index(b'"path": "/slow"') < answer.index(b'"path": "/fast"')
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.endswith(b"internal error")
    assert b"HTTP/1.1 500 Internal Server Error" in answer
