"""A liaison officer's commands by WeCom or Telegram (hub/inbound/officer_commands.py): stored
as a webhook stores them, applied by the inbound worker through hub/visits/outcome.py, answered
on the same channel; refusals answered with the reason and nothing written."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import InboundReply
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, ContactVia, MessageKind, ReplyClass, VisitStatus
from hub.inbound.accept import accept_reply
from hub.inbound.answers import Answerer
from hub.inbound.apply import ReplyApplier
from hub.inbound.worker import InboundWorker
from hub.infra.queue import Queue
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Enterprise, LiaisonContact, Message, Ticket, Visit
from hub.store.models import InboundReply as StoredReply
from tests.inbound_support import ALL_CHANNELS, TEMPLATES, planning_policy
from tests.visits.record_support import (
    NOW,
    OFFICER_TELEGRAM,
    OFFICER_WECOM,
    VisitWorld,
    seed_visit_world,
    visit_settings,
)

_ids = itertools.count(1)


@dataclass
class Officers:
    db: Database
    queue: Queue
    worker: InboundWorker
    world: VisitWorld

    async def send(self, text: str, *, channel: ChannelName = ChannelName.WECOM,
                   sender: str = OFFICER_WECOM) -> StoredReply:  # fmt: skip
        """The officer's text, stored as the webhook stores it, then handled by the worker."""
        reply = InboundReply(provider=channel.value, provider_msg_id=f"o-{next(_ids)}",
                             sender=sender, text=text, raw={})  # fmt: skip
        clock = FixedClock(NOW)
        reply_id = (await accept_reply(self.db, self.queue, clock, channel, reply)).reply_id
        while await self.worker.run_once(block_ms=1):
            pass
        async with self.db.read() as session:
            stored = await session.get(StoredReply, reply_id)
        assert stored is not None
        return stored

    async def answers(self) -> list[Message]:
        async with self.db.read() as session:
            query = sa.select(Message).where(Message.kind == MessageKind.NOTICE)
            return list((await session.scalars(query.order_by(Message.id))).all())

    async def visit(self, name: str) -> Visit:
        async with self.db.read() as session:
            visit = await session.get(Visit, self.world.visits[name])
        assert visit is not None
        return visit


@pytest.fixture
async def officers(db: Database, redis_client: Redis, redis_keys: RedisKeys) -> Officers:
    world = await seed_visit_world(db)
    clock = FixedClock(NOW)
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(sorted(ALL_CHANNELS))
    answerer = Answerer(TemplateRenderer(TEMPLATES), planning_policy())
    applier = ReplyApplier(visit_settings(), answerer)
    worker = InboundWorker(db, queue, clock, applier, consumer="w1", block_ms=1)
    return Officers(db, queue, worker, world)


async def test_done_with_problems_by_wecom_opens_routed_tickets_and_answers_the_officer(
    officers: Officers,
) -> None:
    visit_id = officers.world.visits["甲机械"]
    stored = await officers.send(
        f"走访 {visit_id} 完成 记录：座谈顺利 问题：厂区道路破损需维修@fgw；"
        "生产线扩建用地手续办理慢"
    )
    assert stored.classification is ReplyClass.VISIT_ANSWER
    assert stored.enterprise_id is None  # not the enterprise's reply
    async with officers.db.read() as session:
        tickets = (await session.scalars(sa.select(Ticket).order_by(Ticket.id))).all()
    assert [t.subject for t in tickets] == [
        "走访发现：厂区道路破损需维修",
        "走访发现：生产线扩建用地手续办理慢",
    ]
    assert {t.source_visit_id for t in tickets} == {visit_id}
    assert stored.classification_detail["detail"]["tickets"] == [t.number for t in tickets]
    visit = await officers.visit("甲机械")
    assert (visit.status, visit.notes) == (VisitStatus.DONE, "座谈顺利")
    [answer] = await officers.answers()
    assert (answer.channel, answer.address) == (ChannelName.WECOM, OFFICER_WECOM)
    assert tickets[0].number in answer.body
    assert "FGW" in answer.body


async def test_not_done_and_a_new_time_by_telegram(officers: Officers) -> None:
    visit_id = officers.world.visits["戊建筑"]
    await officers.send(f"走访 {visit_id} 未完成 原因：企业负责人出差",
                        channel=ChannelName.TELEGRAM, sender=OFFICER_TELEGRAM)  # fmt: skip
    visit = await officers.visit("戊建筑")
    assert visit.status is VisitStatus.PLANNED
    assert visit.details["not_done"][0]["reason"] == "企业负责人出差"
    assert visit.details["not_done"][0]["by"] == "officer:LL001"
    await officers.send(f"走访 {visit_id} 改约 3月2日上午", channel=ChannelName.TELEGRAM,
                        sender=OFFICER_TELEGRAM)  # fmt: skip
    visit = await officers.visit("戊建筑")
    assert visit.status is VisitStatus.CONFIRMED
    assert visit.proposed_for is not None
    assert visit.proposed_for.isoformat() == "2027-03-02T01:00:00+00:00"  # 09:00 Shanghai
    first, second = await officers.answers()
    assert {first.channel, second.channel} == {ChannelName.TELEGRAM}
    assert "待预约" in first.body
    assert "已确认" in second.body


async def test_a_contact_by_phone_is_recorded(officers: Officers) -> None:
    async with officers.db.read() as session:
        uscc = await session.scalar(
            sa.select(Enterprise.uscc).where(
                Enterprise.id == officers.world.tickets.enterprises["甲机械"]
            )
        )
    await officers.send(f"联系 {uscc} 电话 已电话了解用工需求")
    async with officers.db.read() as session:
        [row] = (await session.scalars(sa.select(LiaisonContact))).all()
    assert (row.via, row.notes, row.source) == (
        ContactVia.PHONE,
        "已电话了解用工需求",
        "wecom:LL001",
    )
    [answer] = await officers.answers()
    assert "电话联系" in answer.body


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("走访 {other} 完成", "不是您负责的走访"),
        ("走访 9999 完成", "没有编号为 9999 的走访"),
        ("走访 {mine} 改约 4月5日上午", "是休息日"),
        ("走访 {mine} 改约 下次再说", "未能识别改约的时间"),
        ("走访 {mine} 完成 问题：漏水@XYZ", "部门编码 XYZ 不存在"),
        ("走访 一下", "联络员指令格式"),
    ],
)
async def test_a_refused_command_is_answered_with_why_and_writes_nothing(
    officers: Officers, text: str, says: str
) -> None:
    filled = text.format(
        mine=officers.world.visits["甲机械"], other=officers.world.visits["丙软件"]
    )
    stored = await officers.send(filled)
    assert says in stored.classification_detail["detail"]["refused"]
    [answer] = await officers.answers()
    assert says in answer.body
    async with officers.db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0
    assert (await officers.visit("甲机械")).status is VisitStatus.CONFIRMED


async def test_an_officers_other_text_and_a_contacts_command_take_the_usual_path(
    officers: Officers,
) -> None:
    stored = await officers.send("今天下午开会")  # not a command: an unknown sender's request
    assert stored.classification is ReplyClass.REQUEST
    visit_id = officers.world.visits["甲机械"]
    contact = await officers.send(f"走访 {visit_id} 完成", channel=ChannelName.SMS,
                                  sender="+8613900000001")  # fmt: skip
    assert contact.contact_id is not None
    assert (await officers.visit("甲机械")).status is VisitStatus.CONFIRMED
