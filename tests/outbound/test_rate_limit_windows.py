"""A provider's rate-limit answer waits for the window it names and never uses up the attempts.

Tencent's ``LimitExceeded.PhoneNumberThirtySecondLimit`` (one hour, one day, the app's daily
quota) and Aliyun's ``isv.BUSINESS_LIMIT_CONTROL`` (minute, hour, day) say the message is fine,
only early: the dispatcher retries when the window ends (a daily one at the next midnight in
Shanghai), and such a wait is not a failed attempt, so a number that keeps hitting its window is
not dead-lettered after ``dispatch.max_attempts`` quick tries. A wait that would end more than
:data:`hub.outbound.send_failures.LIMIT_HORIZON` after the first limit fails the message with the
reason.

The channels talk to their loopback fakes over real HTTP, answering in the providers' wire
format; the dispatcher runs over real Redis and SQLite on an injected clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.base import Channel, ChannelRegistry, RateLimitedError, RetryableError
from channels.fakes.aliyun_sms import AliyunSmsFake
from channels.fakes.tencent_sms import TencentSmsFake
from channels.sms.aliyun import AliyunSmsChannel
from channels.sms.http_client import HttpClient
from channels.sms.tencent import TencentSmsChannel
from channels.telegram.channel import error_of
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.metrics import HubMetrics
from hub.core.vocab import MessageKind, MessageStatus
from hub.core.workdays import WorkdayCalendar
from hub.infra.queue import Queue
from hub.outbound.dispatch import Dispatcher
from hub.outbound.quiet_hours import QUIET_EXEMPT_UNTIL, QuietRules
from hub.outbound.settings import DispatchSettings, QuietHours
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message
from tests.channels.sms import test_aliyun as aliyun
from tests.channels.sms import test_tencent_fake as tencent
from tests.channels.sms.test_tencent_fake import _queue_messages

QUIET = QuietRules(QuietHours(), SHANGHAI)
NUMBER = "+8613900000000"  # the first number _queue_messages uses
PARAMS = {"sms_template_id": "1000103", "template_ids": {"aliyun": aliyun.TEMPLATE},
          "names": ["company", "date"], "values": ["甲机械", "12月1日"]}  # fmt: skip


@pytest.fixture
async def lean() -> AsyncIterator[HttpClient]:
    async with HttpClient() as http:
        yield http


@pytest.fixture
def tencent_fake(clock: FixedClock) -> TencentSmsFake:
    return TencentSmsFake(tencent.SECRET_ID, tencent.SECRET_KEY, sdk_app_id=tencent.APP_ID,
                          clock=lambda: clock.now().timestamp())  # fmt: skip


@pytest.fixture
def aliyun_fake(clock: FixedClock) -> AliyunSmsFake:
    return AliyunSmsFake(aliyun.KEY_ID, aliyun.KEY_SECRET, sign_name=aliyun.SIGN,
                         clock=lambda: clock.now().timestamp())  # fmt: skip


class Sms:
    """One message to :data:`NUMBER` on a channel, dispatched with the default settings."""

    def __init__(
        self, db: Database, redis: Redis, keys: RedisKeys, clock: FixedClock, channel: Channel,
        quiet: QuietRules | None = None,
    ) -> None:  # fmt: skip
        self.db = db
        self.clock = clock
        self.queue = Queue(redis, keys, clock=clock)
        registry = ChannelRegistry()
        registry.register(channel)
        self.dispatcher = Dispatcher(db, self.queue, registry, clock, DispatchSettings(block_ms=1),
                                     HubMetrics(CollectorRegistry()), consumer="t1",
                                     quiet=quiet)  # fmt: skip

    async def queue_one(self) -> int:
        await self.queue.ensure_groups(["sms"])
        [message_id] = await _queue_messages(self.db, self.queue, self.clock, 1, params=PARAMS)
        return message_id

    async def change(self, message_id: int, **values: Any) -> None:
        async with self.db.write() as session:
            await session.execute(sa.update(Message).where(Message.id == message_id).values(values))

    async def row(self, message_id: int) -> Message:
        async with self.db.read() as session:
            found = await session.get(Message, message_id)
        assert found is not None
        return found

    async def outcomes(self) -> list[str]:
        async with self.db.read() as session:
            query = sa.select(DeliveryAttempt.outcome).order_by(DeliveryAttempt.id)
            return list((await session.scalars(query)).all())


@pytest.fixture
async def via_tencent(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    tencent_fake: TencentSmsFake, lean: HttpClient,
) -> AsyncIterator[Sms]:  # fmt: skip
    async with tencent_fake.serve() as url:
        channel = TencentSmsChannel(tencent.config(url), lean, clock, qps=1000)
        yield Sms(db, redis_client, redis_keys, clock, channel)


@pytest.fixture
async def via_tencent_quiet(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    tencent_fake: TencentSmsFake, lean: HttpClient,
) -> AsyncIterator[Sms]:  # fmt: skip
    """As :func:`via_tencent`, with the default quiet hours (21:00–08:00 Shanghai)."""
    async with tencent_fake.serve() as url:
        channel = TencentSmsChannel(tencent.config(url), lean, clock, qps=1000)
        yield Sms(db, redis_client, redis_keys, clock, channel, QUIET)


@pytest.fixture
async def via_aliyun(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    aliyun_fake: AliyunSmsFake, lean: HttpClient,
) -> AsyncIterator[Sms]:  # fmt: skip
    async with aliyun_fake.serve() as url:
        channel = AliyunSmsChannel(aliyun.config(url), lean, clock)
        yield Sms(db, redis_client, redis_keys, clock, channel)


def _midnight_after(at: datetime) -> datetime:
    day = at.astimezone(SHANGHAI).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


async def test_a_number_at_its_thirty_second_limit_is_retried_after_30_s_and_delivered_not_dead(
    via_tencent: Sms, tencent_fake: TencentSmsFake, clock: FixedClock
) -> None:
    tencent_fake.switches.number_errors = {NUMBER: "LimitExceeded.PhoneNumberThirtySecondLimit"}
    message_id = await via_tencent.queue_one()
    # Twice the attempt budget of windows in a row: before, the fifth was dead-lettered.
    for _ in range(2 * DispatchSettings().max_attempts):
        assert await via_tencent.dispatcher.run_once("sms") == 1
        waiting = await via_tencent.row(message_id)
        assert waiting.status is MessageStatus.QUEUED
        assert waiting.next_attempt_at == clock.now() + timedelta(seconds=30)
        assert waiting.status_reason is not None
        assert "PhoneNumberThirtySecondLimit" in waiting.status_reason
        clock.advance(timedelta(seconds=29))
        assert await via_tencent.dispatcher.run_once("sms", block_ms=1) == 0  # not before
        clock.advance(timedelta(seconds=1))

    tencent_fake.switches.number_errors = {}
    assert await via_tencent.dispatcher.run_once("sms") == 1
    sent = await via_tencent.row(message_id)
    assert sent.status is MessageStatus.SENT
    assert sent.attempts == 1  # the windows were not failed attempts
    assert await via_tencent.queue.list_dead("sms") == []
    assert await via_tencent.outcomes() == ["limited"] * 10 + ["sent"]


@pytest.mark.parametrize(
    ("code", "wait", "windows"),
    [
        # Hour after hour beyond the attempt budget: before, dead after the fifth hour.
        ("LimitExceeded.PhoneNumberOneHourLimit", timedelta(hours=1), 6),
        # The conftest clock is 10:00 in Shanghai: the day's count resets at midnight there.
        ("LimitExceeded.PhoneNumberDailyLimit", timedelta(hours=14), 1),
        ("LimitExceeded.PhoneNumberSameContentDailyLimit", timedelta(hours=14), 1),
    ],
)
async def test_a_per_number_hourly_or_daily_limit_waits_for_its_window(
    via_tencent: Sms, tencent_fake: TencentSmsFake, clock: FixedClock,
    code: str, wait: timedelta, windows: int,
) -> None:  # fmt: skip
    tencent_fake.switches.number_errors = {NUMBER: code}
    message_id = await via_tencent.queue_one()
    for _ in range(windows):
        assert await via_tencent.dispatcher.run_once("sms") == 1
        waiting = await via_tencent.row(message_id)
        assert waiting.status is MessageStatus.QUEUED
        assert waiting.next_attempt_at == clock.now() + wait
        assert waiting.attempts == 0  # a window is not a failed attempt
        clock.advance(wait)

    tencent_fake.switches.number_errors = {}
    clock.advance(-timedelta(minutes=1))
    assert await via_tencent.dispatcher.run_once("sms", block_ms=1) == 0  # not before
    clock.advance(timedelta(minutes=1))
    assert await via_tencent.dispatcher.run_once("sms") == 1
    assert (await via_tencent.row(message_id)).status is MessageStatus.SENT


async def test_the_apps_daily_quota_at_2330_waits_for_midnight_in_shanghai(
    via_tencent: Sms, tencent_fake: TencentSmsFake, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 23, 23, 30, tzinfo=SHANGHAI))
    tencent_fake.switches.request_error = "LimitExceeded.AppDailyLimit"
    message_id = await via_tencent.queue_one()

    assert await via_tencent.dispatcher.run_once("sms") == 1
    waiting = await via_tencent.row(message_id)
    assert waiting.next_attempt_at == datetime(2026, 11, 24, 0, 0, tzinfo=SHANGHAI)
    assert waiting.attempts == 0


async def test_a_daily_limit_at_2330_is_retried_at_0800_when_quiet_hours_end_not_at_midnight(
    via_tencent_quiet: Sms, tencent_fake: TencentSmsFake, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 23, 23, 30, tzinfo=SHANGHAI))
    tencent_fake.switches.number_errors = {NUMBER: "LimitExceeded.PhoneNumberDailyLimit"}
    message_id = await via_tencent_quiet.queue_one()  # a notice: subject to quiet hours

    assert await via_tencent_quiet.dispatcher.run_once("sms") == 1
    waiting = await via_tencent_quiet.row(message_id)
    assert waiting.status is MessageStatus.QUEUED
    assert waiting.next_attempt_at == datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)
    assert waiting.attempts == 0
    assert waiting.status_reason is not None
    assert waiting.status_reason.startswith("服务商限流，且处于免打扰时段，11-24 08:00 后重试：")
    assert "PhoneNumberDailyLimit" in waiting.status_reason

    tencent_fake.switches.number_errors = {}
    clock.set(datetime(2026, 11, 24, 0, 0, tzinfo=SHANGHAI))
    assert await via_tencent_quiet.dispatcher.run_once("sms", block_ms=1) == 0  # not at 00:00
    clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI))
    assert await via_tencent_quiet.dispatcher.run_once("sms") == 1
    assert (await via_tencent_quiet.row(message_id)).status is MessageStatus.SENT


async def test_a_kind_that_bypasses_quiet_hours_is_retried_when_the_window_opens_at_midnight(
    via_tencent_quiet: Sms, tencent_fake: TencentSmsFake, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 23, 23, 30, tzinfo=SHANGHAI))
    tencent_fake.switches.number_errors = {NUMBER: "LimitExceeded.PhoneNumberDailyLimit"}
    message_id = await via_tencent_quiet.queue_one()
    assert MessageKind.CREDIT_WARNING in QUIET.hours.bypass
    await via_tencent_quiet.change(message_id, kind=MessageKind.CREDIT_WARNING)

    assert await via_tencent_quiet.dispatcher.run_once("sms") == 1
    waiting = await via_tencent_quiet.row(message_id)
    assert waiting.next_attempt_at == datetime(2026, 11, 24, 0, 0, tzinfo=SHANGHAI)
    assert waiting.status_reason is not None
    assert waiting.status_reason.startswith("服务商限流，11-24 00:00:00 后重试")


async def test_an_answer_the_contact_waits_for_is_retried_after_30_s_in_quiet_hours(
    via_tencent_quiet: Sms, tencent_fake: TencentSmsFake, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI))
    tencent_fake.switches.number_errors = {NUMBER: "LimitExceeded.PhoneNumberThirtySecondLimit"}
    message_id = await via_tencent_quiet.queue_one()
    # What reply_answers records on an answer quiet hours did not hold.
    exempt_until = clock.now() + timedelta(minutes=30)
    await via_tencent_quiet.change(
        message_id, params={**PARAMS, QUIET_EXEMPT_UNTIL: exempt_until.isoformat()}
    )

    assert await via_tencent_quiet.dispatcher.run_once("sms") == 1
    waiting = await via_tencent_quiet.row(message_id)
    assert waiting.next_attempt_at == clock.now() + timedelta(seconds=30)

    # Still limited half an hour on: the contact is no longer waiting, quiet hours apply.
    clock.set(exempt_until)
    assert await via_tencent_quiet.dispatcher.run_once("sms") == 1
    waiting = await via_tencent_quiet.row(message_id)
    assert waiting.next_attempt_at == datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)


async def test_a_daily_limit_on_friday_night_waits_for_monday_0800_with_days_off(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    tencent_fake: TencentSmsFake, lean: HttpClient,
) -> None:  # fmt: skip
    quiet = QuietRules(QuietHours(days_off=True), SHANGHAI, WorkdayCalendar())
    clock.set(datetime(2026, 11, 27, 23, 30, tzinfo=SHANGHAI))  # a Friday
    tencent_fake.switches.number_errors = {NUMBER: "LimitExceeded.PhoneNumberDailyLimit"}
    async with tencent_fake.serve() as url:
        channel = TencentSmsChannel(tencent.config(url), lean, clock, qps=1000)
        sms = Sms(db, redis_client, redis_keys, clock, channel, quiet)
        message_id = await sms.queue_one()
        assert await sms.dispatcher.run_once("sms") == 1
    waiting = await sms.row(message_id)
    assert waiting.next_attempt_at == datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI)
    assert waiting.attempts == 0


async def test_a_daily_limit_that_outlasts_the_horizon_fails_with_the_reason(
    via_tencent: Sms, tencent_fake: TencentSmsFake, clock: FixedClock
) -> None:
    tencent_fake.switches.number_errors = {NUMBER: "LimitExceeded.PhoneNumberDailyLimit"}
    message_id = await via_tencent.queue_one()
    # Limited on Monday 10:00 and Tuesday 00:00: waited for until Wednesday 00:00 (38 h after
    # the first limit); limited again then, Thursday 00:00 is 62 h on, beyond the 48 h horizon.
    for _ in range(2):
        assert await via_tencent.dispatcher.run_once("sms") == 1
        waiting = await via_tencent.row(message_id)
        assert waiting.status is MessageStatus.QUEUED
        assert waiting.next_attempt_at == _midnight_after(clock.now())
        clock.set(waiting.next_attempt_at)
    assert await via_tencent.dispatcher.run_once("sms") == 1
    failed = await via_tencent.row(message_id)
    assert failed.status is MessageStatus.FAILED
    assert failed.status_reason is not None
    assert failed.status_reason.startswith("服务商限流已等待")
    assert "48 小时" in failed.status_reason
    assert "PhoneNumberDailyLimit" in failed.status_reason


@pytest.mark.parametrize(
    ("text", "wait"),
    [
        ("触发分钟级流控Permits:1", timedelta(minutes=1)),
        ("触发小时级流控Permits:5", timedelta(hours=1)),
        ("触发天级流控Permits:10", timedelta(hours=14)),
    ],
)
async def test_aliyuns_business_limit_waits_for_the_window_it_names_without_using_attempts(
    via_aliyun: Sms, aliyun_fake: AliyunSmsFake, clock: FixedClock, text: str, wait: timedelta
) -> None:
    aliyun_fake.switches.number_errors = {"13900000000": "isv.BUSINESS_LIMIT_CONTROL"}
    aliyun_fake.switches.error_message = text
    message_id = await via_aliyun.queue_one()
    for _ in range(DispatchSettings().max_attempts + 1):
        assert await via_aliyun.dispatcher.run_once("sms") == 1
        waiting = await via_aliyun.row(message_id)
        assert waiting.status is MessageStatus.QUEUED
        assert waiting.next_attempt_at == clock.now() + wait
        assert waiting.attempts == 0
        clock.advance(min(wait, timedelta(hours=1)))
        if wait > timedelta(hours=1):
            break  # a daily window: once is enough (the horizon test covers repeats)

    aliyun_fake.switches.number_errors = {}
    clock.set(waiting.next_attempt_at or clock.now())
    assert await via_aliyun.dispatcher.run_once("sms") == 1
    assert (await via_aliyun.row(message_id)).status is MessageStatus.SENT


def test_telegrams_429_is_a_rate_limit_window_with_its_retry_after() -> None:
    method = SendMessage(chat_id=1, text="x")
    mapped = error_of(TelegramRetryAfter(method, "Too Many Requests: retry after 7", 7))
    assert isinstance(mapped, RateLimitedError)
    assert mapped.retry_after == 7.0


def test_a_rate_limit_without_a_window_is_refused() -> None:
    with pytest.raises(ValueError, match="retry_after"):
        RateLimitedError("限流", code="x", retry_after=None)  # type: ignore[arg-type]
    assert issubclass(RateLimitedError, RetryableError)


async def test_a_failure_at_205950_is_retried_at_0800_when_quiet_hours_end_not_on_the_backoff(
    via_tencent_quiet: Sms, tencent_fake: TencentSmsFake, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 23, 20, 59, 50, tzinfo=SHANGHAI))
    tencent_fake.switches.http_status = 502  # a transient failure: the generic backoff ...
    # ... of 30–60 s, which would retry it at 21:00:20–21:00:50, in quiet hours.
    via_tencent_quiet.dispatcher.failures.settings = DispatchSettings(backoff_base_seconds=60)
    message_id = await via_tencent_quiet.queue_one()  # a notice: subject to quiet hours

    assert await via_tencent_quiet.dispatcher.run_once("sms") == 1
    waiting = await via_tencent_quiet.row(message_id)
    assert waiting.status is MessageStatus.QUEUED
    assert waiting.next_attempt_at == datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)
    assert waiting.attempts == 1
    assert waiting.status_reason is not None
    assert waiting.status_reason.startswith(
        "第 1 次发送失败，且处于免打扰时段，11-24 08:00 后重试："
    )

    tencent_fake.switches.http_status = None
    clock.set(datetime(2026, 11, 23, 21, 0, 20, tzinfo=SHANGHAI))
    assert await via_tencent_quiet.dispatcher.run_once("sms", block_ms=1) == 0  # not at 21:00:20
    clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI))
    assert await via_tencent_quiet.dispatcher.run_once("sms") == 1
    assert (await via_tencent_quiet.row(message_id)).status is MessageStatus.SENT


async def test_a_failed_kind_that_bypasses_quiet_hours_is_retried_on_the_backoff(
    via_tencent_quiet: Sms, tencent_fake: TencentSmsFake, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 23, 20, 59, 50, tzinfo=SHANGHAI))
    tencent_fake.switches.http_status = 502
    via_tencent_quiet.dispatcher.failures.settings = DispatchSettings(backoff_base_seconds=60)
    message_id = await via_tencent_quiet.queue_one()
    assert MessageKind.CREDIT_WARNING in QUIET.hours.bypass
    await via_tencent_quiet.change(message_id, kind=MessageKind.CREDIT_WARNING)

    assert await via_tencent_quiet.dispatcher.run_once("sms") == 1
    waiting = await via_tencent_quiet.row(message_id)
    assert waiting.next_attempt_at is not None
    wait = waiting.next_attempt_at - clock.now()
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=60)  # at 21:00:20–21:00:50
    assert waiting.status_reason is not None
    assert waiting.status_reason.startswith("第 1 次发送失败，将重试：")
