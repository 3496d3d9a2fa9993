"""Aliyun reports that name their message by ``out_id`` settle sends the hub could not place.

A ``SendSms`` carries its hub message id in ``OutId`` and Aliyun's ``SmsReport`` echoes it as
``out_id``. Two kinds of message have no ``BizId`` on record for a report to match: a send
whose worker died during the provider call (still ``sending``), and one the status query
found (``QuerySendDetails`` returns no ``BizId``). Each test posts the report through the real
webhook route and runs the real dispatcher: the dead worker is consumer ``dead-1``, which
claimed the entry, marked the row ``sending`` under its name and never heartbeats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from channels.base import ProbeAnswer, SendProbe, Verdict
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageStatus
from hub.outbound.receipts import retry_parked
from hub.outbound.unknown_sends import GIVE_UP, TAKEN
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message
from tests.outbound.test_unknown_sends import SMS_ONLY, ProbedChannel, _die_mid_send, _started
from tests.pipeline import Hub, build, notice, queued_ids, setup
from tests.seed import seed_registry
from tests.web.test_webhook_aliyun import ANSWER, aliyun_settings, make_app, post, url


@pytest.fixture
def db(any_db: Database) -> Database:
    """On SQLite and PostgreSQL: the resolution is a conditional UPDATE that counts its rows."""
    return any_db


class NoIdChannel(ProbedChannel):
    """Answers status queries as Aliyun's ``QuerySendDetails`` does: taken, but no BizId."""

    async def query_sent(self, probes: Sequence[SendProbe]) -> list[ProbeAnswer]:
        answers = await super().query_sent(probes)
        return [dataclasses.replace(a, provider_message_id=None) for a in answers]


def sms_report(
    biz_id: str, number: str, out_id: str, *, success: bool = True, err_code: str = "DELIVERED"
) -> dict[str, Any]:
    return {"phone_number": number, "send_time": "2026-11-23 10:00:00",
            "report_time": "2026-11-23 10:00:05", "success": success, "err_code": err_code,
            "err_msg": "用户接收成功" if success else "停机、空号", "sms_size": "1",
            "biz_id": biz_id, "out_id": out_id}  # fmt: skip


async def _hub(
    db: Database, redis: Redis, keys: RedisKeys, clock: FixedClock, channel: ProbedChannel,
    write_config: Callable[..., Path],
) -> tuple[Hub, FastAPI, int, str]:  # fmt: skip
    """A hub with one SMS notice submitted, its webhook app, the message id and its number."""
    await seed_registry(db)
    hub = build(db, redis, keys, clock, channel, routing=SMS_ONLY)
    await setup(hub)
    app = make_app(aliyun_settings(write_config, []), db, redis, keys, hub.queue, clock)
    [message_id] = await queued_ids(hub.outbox, notice("tier=key"))
    row = await _row(db, message_id)
    return hub, app, message_id, row.address.removeprefix("+86")


async def _row(db: Database, message_id: int) -> Message:
    async with db.read() as session:
        row = await session.get(Message, message_id)
    assert row is not None
    return row


async def _attempts(db: Database) -> list[tuple[int, str, str | None, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(DeliveryAttempt.message_id, DeliveryAttempt.outcome,
                      DeliveryAttempt.error_code, DeliveryAttempt.provider_message_id)
            .order_by(DeliveryAttempt.id)
        )  # fmt: skip
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def _parked(redis: Redis, keys: RedisKeys) -> int:
    return int(await redis.zcard(keys.parked_receipts()))


@pytest.mark.parametrize(
    ("success", "status"), [(True, MessageStatus.DELIVERED), (False, MessageStatus.FAILED)]
)
async def test_a_report_naming_a_send_whose_worker_died_settles_it_and_nothing_is_resent(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    write_config: Callable[..., Path], success: bool, status: MessageStatus,
) -> None:  # fmt: skip
    channel = ProbedChannel()  # its status query would say "not taken" and resend
    hub, app, message_id, number = await _hub(
        db, redis_client, redis_keys, clock, channel, write_config
    )
    await _die_mid_send(hub, "sms", [message_id])
    await _started(hub)

    item = sms_report("77^0", number, str(message_id), success=success,
                      err_code="DELIVERED" if success else "MOBILE_NOT_ON_SERVICE")  # fmt: skip
    assert (await post(app, url("report"), [item])).json() == ANSWER

    row = await _row(db, message_id)
    assert row.status is status
    assert row.provider_message_id == f"77^0:{number}"  # later reports match it by BizId
    assert row.sent_at is not None
    assert await _attempts(db) == [(message_id, "sent", TAKEN, f"77^0:{number}")]
    assert await _parked(redis_client, redis_keys) == 0
    # The live dispatcher takes the dead worker's entry over: nothing to ask, nothing to send.
    await hub.dispatcher.recovery.take_over_dead("sms")
    assert channel.probed == []
    assert channel.sent == []
    assert (await _row(db, message_id)).status is status
    assert (await hub.queue.backlog("sms")).pending == 0


async def test_a_report_matches_by_out_id_a_send_the_status_query_found_without_a_biz_id(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    write_config: Callable[..., Path],
) -> None:  # fmt: skip
    channel = NoIdChannel()
    hub, app, message_id, number = await _hub(
        db, redis_client, redis_keys, clock, channel, write_config
    )
    await _die_mid_send(hub, "sms", [message_id])
    channel.verdicts = {message_id: Verdict.TAKEN}
    await _started(hub)
    await hub.dispatcher.recovery.take_over_dead("sms")
    row = await _row(db, message_id)
    assert (row.status, row.provider_message_id) == (MessageStatus.SENT, None)

    item = sms_report("78^0", number, str(message_id))
    assert (await post(app, url("report"), [item])).json() == ANSWER
    row = await _row(db, message_id)
    assert (row.status, row.provider_message_id) == (MessageStatus.DELIVERED, f"78^0:{number}")
    assert await _parked(redis_client, redis_keys) == 0

    # A contradictory redelivery changes nothing: the final state stays.
    late = sms_report("78^0", number, str(message_id), success=False, err_code="UNKNOWN")
    assert (await post(app, url("report"), [late])).json() == ANSWER
    assert (await _row(db, message_id)).status is MessageStatus.DELIVERED
    assert channel.sent == []


async def test_a_report_naming_a_send_given_up_as_unknowable_settles_it_and_clears_its_dead_letter(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    write_config: Callable[..., Path],
) -> None:  # fmt: skip
    # The status query never answered (Aliyun's carrier report came late): the send was given
    # up, dead, for an operator to check. The late report is that check: no resend is needed.
    channel = ProbedChannel()
    hub, app, message_id, number = await _hub(
        db, redis_client, redis_keys, clock, channel, write_config
    )
    await _die_mid_send(hub, "sms", [message_id])
    channel.verdicts = {message_id: Verdict.UNKNOWN}
    await _started(hub)
    await hub.dispatcher.recovery.take_over_dead("sms")
    clock.advance(GIVE_UP)
    await hub.dispatcher.run_once("sms")
    assert (await _row(db, message_id)).status is MessageStatus.DEAD
    assert [d.message_id for d in await hub.queue.list_dead("sms")] == [message_id]

    item = sms_report("81^0", number, str(message_id))
    assert (await post(app, url("report"), [item])).json() == ANSWER

    row = await _row(db, message_id)
    assert (row.status, row.provider_message_id) == (MessageStatus.DELIVERED, f"81^0:{number}")
    assert row.status_reason is None
    assert await hub.queue.list_dead("sms") == []  # nothing left for an operator to resend
    assert (await _attempts(db))[-1] == (message_id, "sent", TAKEN, f"81^0:{number}")
    assert channel.sent == []


async def test_a_report_naming_a_live_workers_send_waits_for_it_to_record_the_send(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    write_config: Callable[..., Path],
) -> None:  # fmt: skip
    # The report outran a live worker still in its provider call: settling the row now would
    # have the worker's answer, written after, move it back to sent.
    hub, app, message_id, number = await _hub(
        db, redis_client, redis_keys, clock, ProbedChannel(), write_config
    )
    await _die_mid_send(hub, "sms", [message_id], owner="busy-2")
    await _started(hub)
    await hub.dispatcher.liveness.beat("busy-2")

    assert (await post(app, url("report"), [sms_report("79^0", number, str(message_id))])
            ).json() == ANSWER  # fmt: skip
    assert (await _row(db, message_id)).status is MessageStatus.SENDING
    assert await _parked(redis_client, redis_keys) == 1

    async with db.write() as session:  # busy-2 records Aliyun's answer
        await session.execute(
            sa.update(Message).where(Message.id == message_id)
            .values(status=MessageStatus.SENT, provider_message_id=f"79^0:{number}")
        )  # fmt: skip
    assert await retry_parked(db, redis_client, redis_keys, clock) == 1
    assert (await _row(db, message_id)).status is MessageStatus.DELIVERED


async def test_a_report_whose_out_id_names_a_message_to_another_number_changes_nothing(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    write_config: Callable[..., Path],
) -> None:  # fmt: skip
    # Another system on the same Aliyun account may use numeric OutIds of its own.
    hub, app, message_id, number = await _hub(
        db, redis_client, redis_keys, clock, ProbedChannel(), write_config
    )
    await _die_mid_send(hub, "sms", [message_id])
    await _started(hub)
    other = "13700000099"
    assert other != number

    assert (await post(app, url("report"), [sms_report("80^0", other, str(message_id))])
            ).json() == ANSWER  # fmt: skip
    row = await _row(db, message_id)
    assert (row.status, row.provider_message_id) == (MessageStatus.SENDING, None)
    assert await _attempts(db) == []
    assert await _parked(redis_client, redis_keys) == 1
