"""The SMS send path's HTTP client: aiohttp against channels/sms/http_client.py, per signed SendSms
request.

    python benchmarks/http_client.py               # 10,000 personalised messages each way
    python benchmarks/http_client.py --n 20000 --json

Both post the same TC3-signed ``SendSms`` requests (one per message: distinct parameters) to
the Tencent fake running in its own process, 200 messages a batch through
``TencentSmsChannel.send_batch``. Reported per client: requests/s, and CPU microseconds per
request of this process (signing, HTTP, parsing) and of the fake. Run on a quiet machine:
CPU time per request grows when the two cores are shared with other work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels.base import OutboundMessage, SendResult
from channels.batching import each_concurrently
from channels.sms.http_client import HttpClient
from channels.sms.settings import TencentSmsSettings
from channels.sms.tencent import SmsRequest, TencentSmsChannel, _signed, parse_response
from hub.core.clock import SystemClock
from hub.devtools.bench_measure import cpu_seconds
from hub.devtools.processes import start_fake, stop_all

SECRET_ID, SECRET_KEY = "AKIDbench", "bench-secret"
# The fake accepts any template id; every message here is a policy push.
TEMPLATE_IDS = {"policy_push": "1000"}


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _AiohttpTencent(TencentSmsChannel):
    """The channel as it was: the same signing and parsing, posted through aiohttp."""

    def __init__(self, config: TencentSmsSettings, session: aiohttp.ClientSession) -> None:
        super().__init__(config, HttpClient(), SystemClock(), template_ids=TEMPLATE_IDS, qps=1e6)
        self._session = session

    async def send_requests(self, requests: Sequence[SmsRequest]) -> list[list[Any]]:
        return await each_concurrently(self._send_one, requests)

    async def _send_one(self, request: SmsRequest) -> list[Any]:
        now = self._clock.now()
        headers, body = _signed(request, self.settings, int(now.timestamp()))
        async with self._session.post(self._url, data=body, headers=headers) as response:
            status, raw = response.status, await response.read()
        return parse_response(status, raw, request.messages, now=now)


async def _run(client: str, n: int, url: str, fake_pid: int) -> dict[str, float]:
    config = TencentSmsSettings(secret_id=SECRET_ID, secret_key=SECRET_KEY,
                                sdk_app_id="1400000000", sign_name="主动服务",
                                endpoint=url)  # fmt: skip
    params = [{"sms_params": [f"企业{i}", "2026-12-01"]} for i in range(n)]
    messages = [
        OutboundMessage(i, f"+8613{i:09d}", "", "policy_push", params[i], i) for i in range(n)
    ]
    async with aiohttp.ClientSession() as session, HttpClient() as lean:
        channel: TencentSmsChannel
        if client == "aiohttp":
            channel = _AiohttpTencent(config, session)
        else:
            channel = TencentSmsChannel(config, lean, SystemClock(), template_ids=TEMPLATE_IDS,
                                        qps=1e6)  # fmt: skip
        warm = await channel.send_batch(messages[:200])
        assert all(isinstance(r, SendResult) for r in warm), warm[:1]
        fake0, own0, began = cpu_seconds(fake_pid), _own_cpu(), time.perf_counter()
        for start in range(0, n, 200):
            await channel.send_batch(messages[start : start + 200])
        wall = time.perf_counter() - began
        own, fake = _own_cpu() - own0, cpu_seconds(fake_pid) - fake0
    return {"requests_per_s": round(n / wall), "client_us_per_request": round(own / n * 1e6),
            "fake_us_per_request": round(fake / n * 1e6)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    fake, url = start_fake("tencent_sms", "--secret-id", SECRET_ID, "--secret-key", SECRET_KEY,
                           "--no-record")  # fmt: skip
    try:
        report = {c: asyncio.run(_run(c, args.n, url, fake.pid)) for c in ("aiohttp", "http1")}
    finally:
        stop_all([fake])
    if args.json:
        print(json.dumps(report))
    else:
        for client, figures in report.items():
            print(f"{client:8} " + "  ".join(f"{k} {v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
