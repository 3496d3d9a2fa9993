"""SMS failover, from config to the outbox row: both providers enabled, Tencent the primary.

The ``sms`` channel is built the way every process builds it (``hub.app.channel_setup
.build_channels`` from a Settings whose secrets come from the environment), pointed at both
loopback fakes, and driven by the real dispatcher over real Redis and SQLite. When Tencent fails
as a whole (HTTP 502, its internal error, our account refused), the message goes out through
Aliyun in the same attempt; a per-number answer from Tencent (a frequency limit, a blacklist)
stays Tencent's and never reaches Aliyun.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.base import ChannelRegistry
from channels.fakes.aliyun_sms import AliyunSmsFake
from channels.fakes.tencent_sms import TencentSmsFake
from channels.sms.aliyun import AliyunSmsChannel
from channels.sms.failover import FailoverSmsChannel
from channels.sms.http_client import HttpClient
from channels.sms.tencent import TencentSmsChannel
from hub.app.channel_setup import build_channels
from hub.app.config import load_settings
from hub.app.runtime import PROJECT_ROOT
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.metrics import HubMetrics
from hub.core.vocab import MessageStatus
from hub.infra.queue import Queue
from hub.outbound.alerts import list_alerts
from hub.outbound.dispatch import Dispatcher
from hub.outbound.settings import DispatchSettings
from hub.rendering.templates import load_folder
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message
from tests.channels.contract_setup import sms_message
from tests.channels.sms import test_aliyun as aliyun_tests
from tests.channels.sms import test_tencent_fake as tencent_tests
from tests.channels.sms.test_tencent_fake import _queue_messages

SECRETS = {
    "T_SECRET_ID": tencent_tests.SECRET_ID, "T_SECRET_KEY": tencent_tests.SECRET_KEY,
    "T_PATH": "tencent-path-secret", "A_KEY_ID": aliyun_tests.KEY_ID,
    "A_KEY_SECRET": aliyun_tests.KEY_SECRET, "A_PATH": "aliyun-path-secret",
}  # fmt: skip


@dataclass
class SmsPair:
    tencent: TencentSmsFake
    aliyun: AliyunSmsFake
    registry: ChannelRegistry
    dispatcher: Dispatcher
    queue: Queue
    db: Database
    clock: FixedClock

    async def queue_one(self) -> int:
        """A credit warning to +8613900000000, with the params the outbox stores."""
        [message_id] = await _queue_messages(
            self.db, self.queue, self.clock, 1, params=sms_message(0).params
        )
        return message_id

    async def row(self, message_id: int) -> Message:
        async with self.db.read() as session:
            found = await session.get(Message, message_id)
        assert found is not None
        return found


@pytest.fixture
async def pair(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, db: Database,
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
) -> AsyncIterator[SmsPair]:  # fmt: skip
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    epoch = lambda: clock.now().timestamp()  # noqa: E731 - the fakes' clock
    tencent = TencentSmsFake(tencent_tests.SECRET_ID, tencent_tests.SECRET_KEY,
                             sdk_app_id=tencent_tests.APP_ID, clock=epoch)  # fmt: skip
    aliyun = AliyunSmsFake(aliyun_tests.KEY_ID, aliyun_tests.KEY_SECRET,
                           sign_name=aliyun_tests.SIGN, clock=epoch)  # fmt: skip
    async with AsyncExitStack() as stack:
        tencent_url = await stack.enter_async_context(tencent.serve())
        aliyun_url = await stack.enter_async_context(aliyun.serve())
        sms: dict[str, Any] = {
            "provider": "tencent",
            "tencent": {"enabled": True, "endpoint": tencent_url, "secret_id": "${T_SECRET_ID}",
                        "secret_key": "${T_SECRET_KEY}", "sdk_app_id": tencent_tests.APP_ID,
                        "sign_name": "主动服务", "path_secret": "${T_PATH}"},
            "aliyun": {"enabled": True, "endpoint": aliyun_url, "access_key_id": "${A_KEY_ID}",
                       "access_key_secret": "${A_KEY_SECRET}", "sign_name": aliyun_tests.SIGN,
                       "path_secret": "${A_PATH}"},
        }  # fmt: skip
        settings = load_settings(write_config(channels={"sms": sms}))
        catalog = load_folder(PROJECT_ROOT / "templates").catalog
        registry = await build_channels(settings, stack, redis_client, redis_keys, clock, catalog)
        queue = Queue(redis_client, redis_keys, clock=clock)
        await queue.ensure_groups(registry.names())
        dispatcher = Dispatcher(db, queue, registry, clock, DispatchSettings(block_ms=1),
                                HubMetrics(CollectorRegistry()), consumer="t1")  # fmt: skip
        yield SmsPair(tencent, aliyun, registry, dispatcher, queue, db, clock)


def test_both_providers_enabled_make_one_sms_channel_with_tencent_first(pair: SmsPair) -> None:
    sms = pair.registry.get("sms")
    assert isinstance(sms, FailoverSmsChannel)
    assert isinstance(sms.primary, TencentSmsChannel)
    assert isinstance(sms.secondary, AliyunSmsChannel)
    # One shared HTTP client for both (channels/sms/http_client.py).
    assert isinstance(sms.primary._http, HttpClient)
    assert sms.primary._http is sms.secondary._http


async def test_with_tencent_up_the_message_goes_through_tencent_only(pair: SmsPair) -> None:
    message_id = await pair.queue_one()
    assert await pair.dispatcher.run_once("sms") == 1
    [received] = pair.tencent.received
    stored = await pair.row(message_id)
    assert stored.status is MessageStatus.SENT
    assert stored.provider_message_id == received.serial_nos[0]
    assert received.template_id == sms_message(0).params["template_ids"]["tencent"]
    assert pair.aliyun.received == []


@pytest.mark.parametrize(
    "down",
    [
        pytest.param({"http_status": 502}, id="http-502"),
        pytest.param({"request_error": "InternalError"}, id="internal-error"),
        pytest.param(
            {"request_error": "FailedOperation.InsufficientBalanceInSmsPackage"}, id="no-balance"
        ),
    ],
)
async def test_a_tencent_wide_failure_sends_through_aliyun_in_the_same_attempt(
    pair: SmsPair, down: dict[str, Any]
) -> None:
    for switch, value in down.items():
        setattr(pair.tencent.switches, switch, value)
    message_id = await pair.queue_one()

    assert await pair.dispatcher.run_once("sms") == 1

    assert pair.tencent.received == []
    [received] = pair.aliyun.received
    params = sms_message(0).params
    assert received.phone_numbers == ("13900000000",)
    assert received.template_code == params["template_ids"]["aliyun"]
    assert received.template_params == (dict(zip(params["names"], params["values"], strict=True)),)
    stored = await pair.row(message_id)
    assert stored.status is MessageStatus.SENT
    assert stored.attempts == 1  # the same attempt, not a retry
    # The id Aliyun's report webhook will look the message up by.
    assert stored.provider_message_id == f"{received.biz_id}:13900000000"
    async with pair.db.read() as session:
        attempts = (await session.scalars(sa.select(DeliveryAttempt))).all()
    assert [(a.outcome, a.provider) for a in attempts] == [("sent", "aliyun")]
    # Tencent refusing our account is an admin's problem even when Aliyun covered for it.
    alerts = [(a["source"], a["code"]) for a in await list_alerts(pair.db)]
    if "request_error" in down and "Balance" in down["request_error"]:
        assert alerts == [("tencent", down["request_error"])]
    else:
        assert alerts == []


@pytest.mark.parametrize(
    "code", ["LimitExceeded.PhoneNumberDailyLimit", "FailedOperation.PhoneNumberInBlacklist"]
)
async def test_a_per_number_answer_from_tencent_does_not_fail_over(
    pair: SmsPair, code: str
) -> None:
    pair.tencent.switches.number_errors = {"+8613900000000": code}
    message_id = await pair.queue_one()

    assert await pair.dispatcher.run_once("sms") == 1

    [asked] = pair.tencent.received
    assert asked.codes == (code,)
    assert pair.aliyun.received == []  # the limit is to be respected, not dodged
    stored = await pair.row(message_id)
    assert stored.status is not MessageStatus.SENT
    if code.startswith("LimitExceeded"):
        assert stored.status is MessageStatus.QUEUED  # waits for its window at Tencent
        assert stored.next_attempt_at is not None
        assert stored.next_attempt_at > pair.clock.now()
