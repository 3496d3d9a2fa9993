"""The Tencent fake's counts: what a million-message run checks with recording off."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from channels.base import OutboundMessage
from channels.fakes.tencent_sms import TencentSmsFake
from channels.sms.http_client import HttpClient
from channels.sms.settings import TencentSmsSettings
from channels.sms.tencent import TencentSmsChannel
from hub.core.clock import FixedClock

SECRET_ID = "AKIDtest0000000000000000000000000000"
SECRET_KEY = "test-secret-key"


def _message(i: int) -> OutboundMessage:
    return OutboundMessage(
        message_id=i, address=f"+861380000{i:04d}", body="年报提醒", kind="notice",
        params={"sms_template_id": "1000103"},
    )  # fmt: skip


async def test_counts_are_kept_with_recording_off_and_refusals_are_not_counted(
    clock: FixedClock,
) -> None:
    fake = TencentSmsFake(SECRET_ID, SECRET_KEY, clock=lambda: clock.now().timestamp())
    fake.switches.record = False
    fake.switches.number_errors = {"0003": "LimitExceeded.PhoneNumberDailyLimit"}
    async with fake.serve() as url, HttpClient() as http:
        settings = TencentSmsSettings(secret_id=SECRET_ID, secret_key=SECRET_KEY,
                                      sdk_app_id="1400000000", sign_name="主动服务",
                                      endpoint=url)  # fmt: skip
        channel = TencentSmsChannel(settings, http, clock, qps=1000)
        await channel.send_batch([_message(1), _message(2), _message(3)])
        await channel.send_batch([_message(4)])
        fake.switches.request_error = "InternalError.Timeout"
        await channel.send_batch([_message(5)])  # refused whole: answered as an error
        counts = await asyncio.to_thread(_get_json, f"{url}/__fake__/counts")
    assert fake.received == []  # nothing kept per request
    assert counts == {"requests": 2, "numbers": 3, "refused": 1}
    fake.reset()
    assert (fake.accepted_requests, fake.accepted_numbers) == (0, 0)


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())
