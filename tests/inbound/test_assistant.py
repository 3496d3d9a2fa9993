"""The assistant in the inbound loop (hub/inbound/assistant.py), with scripted verdicts.

The knowledge base is a scripted source (the :class:`~hub.inbound.assistant.KnowledgeSource`
interface: each question's :class:`~hub.knowledge.verdict.Verdict` fixed), so these tests pin
what the hub DOES with a verdict; tests/inbound/test_assistant_library.py asks the real index.
Real database (both), real Redis, the shipped templates, the production InboundWorker.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import RATING_PROMPT, ChannelName, MessageKind, ReplyClass, TicketState
from hub.inbound.assistant import ASSISTANT, Assistant
from hub.knowledge.answer_links import answer_link
from hub.knowledge.verdict import Candidate, Entry, Verdict
from hub.store.db import Database
from hub.store.models import AutoAnswer, Message, Staff, Ticket, TicketEvent
from tests.inbound_support import Loop, make_loop

JIA = "+8613900000001"  # 甲机械's contact (tests/seed.py)
STRANGER = "+8613700000099"
BASE_URL = "https://hub.example.cn"

LICENCE = Entry(
    "FAQ-REG-001", 2, "faq", "营业执照遗失补办", ("营业执照遗失了怎么补办？",),
    "登录市场监管局网上办事大厅提交补领申请，上传身份证明，3个工作日内领取新执照。",
    "《市场主体登记管理条例实施细则》第三十条", department="市场监督管理局",
)  # fmt: skip
TAX = Entry("FAQ-TAX-001", 1, "faq", "小规模纳税人申报", ("小规模纳税人增值税怎么申报？",),
            "按季度在电子税务局申报。", "国家税务总局公告2023年第1号")  # fmt: skip
SOCIAL = Entry("FAQ-SI-001", 1, "faq", "社保开户", ("社保开户需要什么材料？",),
               "营业执照和法定代表人身份证。", "")  # fmt: skip

QUESTION = "营业执照丢了怎么补办"
TAX_QUESTION = "小规模纳税人怎么报增值税"
UNSURE = "我们厂门口的路灯坏了好几天"


def sure(text: str, entry: Entry) -> Verdict:
    others = [c for c in (LICENCE, TAX, SOCIAL) if c is not entry][:2]
    return Verdict(text, (Candidate(entry, 0.91), *(Candidate(e, 0.3) for e in others)),
                   0.91, 0.61, True)  # fmt: skip


def unsure(text: str) -> Verdict:
    found = (Candidate(LICENCE, 0.41), Candidate(TAX, 0.37), Candidate(SOCIAL, 0.2))
    return Verdict(text, found, 0.41, 0.04, False)


@dataclass
class Scripted:
    """A knowledge source whose verdicts are fixed per question (anything else: unsure)."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def current(self, session: AsyncSession, *, now: datetime) -> Scripted:
        return self

    def due(self, now: datetime) -> bool:
        return True

    def ask(self, text: str, *, today: date) -> Verdict:
        self.asked.append(text)
        return self.verdicts.get(text) or unsure(text)


KNOWLEDGE = {
    QUESTION: sure(QUESTION, LICENCE),
    "营业执照补办要多久": sure("营业执照补办要多久", LICENCE),
    TAX_QUESTION: sure(TAX_QUESTION, TAX),
}


@pytest.fixture
async def loop(
    any_db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> Loop:
    loop = await make_loop(any_db, redis_client, redis_keys, clock)
    applier = loop.worker.applier
    applier.assistant = Assistant(Scripted(dict(KNOWLEDGE)), applier.answerer, BASE_URL)
    return loop


async def _auto(loop: Loop, reply_id: int) -> AutoAnswer:
    async with loop.db.read() as session:
        row = await session.scalar(sa.select(AutoAnswer).where(AutoAnswer.reply_id == reply_id))
    assert row is not None
    return row


async def _answered(loop: Loop, text: str = QUESTION, sender: str = JIA) -> Ticket:
    reply_id = await loop.reply(text, sender=sender)
    await loop.drain()
    return await loop.ticket((await loop.stored(reply_id)).ticket_id or 0)


async def _event(loop: Loop, ticket_id: int, kind: str) -> TicketEvent:
    async with loop.db.read() as session:
        query = sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                             TicketEvent.type == kind)  # fmt: skip
        found = await session.scalar(query.order_by(TicketEvent.id.desc()).limit(1))
    assert found is not None
    return found


async def test_a_sure_answer_resolves_the_routed_ticket_and_sends_one_auto_answer(
    loop: Loop,
) -> None:
    reply_id = await loop.reply(QUESTION)
    [done] = await loop.drain()

    assert done.cls is ReplyClass.REQUEST
    ticket = await loop.ticket(done.ticket_id or 0)
    assert ticket.state is TicketState.RESOLVED
    assert ticket.department_id == loop.world.departments["GXJ"]  # routed as any request
    assert await loop.events(ticket.id) == ["created", "assigned", "resolved", "rating_requested"]
    resolved = await _event(loop, ticket.id, "resolved")
    assert (resolved.actor, resolved.data["answer"]) == (ASSISTANT, LICENCE.answer)
    # ONE message: the answer, its source, the number, the way to a person, the rating prompt
    [message] = await loop.messages()
    assert message.kind is MessageKind.AUTO_ANSWER
    assert (message.channel, message.address) == (ChannelName.SANDBOX, JIA)
    for part in (LICENCE.answer, f"依据：{LICENCE.source}", ticket.number, "回复 人工 转人工服务",
                 RATING_PROMPT):  # fmt: skip
        assert part in message.body
    row = await _auto(loop, reply_id)
    assert (row.ticket_id, row.answered, row.entry_id, row.entry_version) == (
        ticket.id, True, "FAQ-REG-001", 2)  # fmt: skip
    assert (row.score, row.margin, row.answer) == (0.91, 0.61, LICENCE.answer)
    assert [s["entry_id"] for s in row.suggestions] == ["FAQ-REG-001", "FAQ-TAX-001", "FAQ-SI-001"]
    assert row.token is not None
    assert len(row.token) >= 16
    assert row.handed_over_at is None
    requested = await _event(loop, ticket.id, "rating_requested")
    assert requested.data["message_id"] == message.id
    assert (requested.data["channel"], requested.data["status"]) == ("sandbox", "queued")
    detail = (await loop.stored(reply_id)).classification_detail or {}
    assert detail["detail"]["auto_answer"]["answered"] is True
    assert detail["detail"]["answers"][0]["kind"] == "auto_answer"


async def test_a_bare_digit_after_the_answer_rates_its_ticket(loop: Loop) -> None:
    ticket = await _answered(loop)
    await loop.reply("5")
    [done] = await loop.drain()

    assert done.cls is ReplyClass.RATING
    assert (await loop.ticket(ticket.id)).state is TicketState.CLOSED
    assert await loop.messages(MessageKind.TICKET_FEEDBACK) == []


async def test_human_reopens_the_answered_ticket_to_its_department_with_the_suggestion(
    loop: Loop,
) -> None:
    answered = await _answered(loop)
    loop.clock.advance(timedelta(hours=2))
    reply_id = await loop.reply("人工")
    [done] = await loop.drain()

    assert (done.cls, done.ticket_id) == (ReplyClass.HANDOVER, answered.id)
    ticket = await loop.ticket(answered.id)
    assert ticket.state is TicketState.REOPENED
    assert (ticket.department_id, ticket.handler_id) == (answered.department_id,
                                                          answered.handler_id)  # fmt: skip
    assert ticket.deadline_at == answered.deadline_at  # the clock runs from receipt
    reopened = await _event(loop, ticket.id, "reopened")
    assert reopened.reason == "企业回复“人工”，转人工服务"
    assert reopened.data["handover"] == "human"
    async with loop.db.read() as session:
        row = await session.scalar(sa.select(AutoAnswer).where(AutoAnswer.ticket_id == ticket.id))
    assert row is not None
    assert (row.handed_over_at, row.handover_reason) == (loop.clock.now(), "human")
    assert row.answer == LICENCE.answer  # the suggested answer stays with the ticket
    [ack] = await loop.messages(MessageKind.TICKET_ACK)
    assert "已转人工服务" in ack.body
    assert ticket.number in ack.body
    assert "11月30日（周一）24时前" in ack.body
    assert (await loop.stored(reply_id)).ticket_id == ticket.id


async def test_human_with_nothing_answered_gets_the_no_handover_notice(loop: Loop) -> None:
    await loop.reply("转人工")
    [done] = await loop.drain()

    assert done.cls is ReplyClass.HANDOVER
    [notice] = await loop.messages()
    assert notice.kind is MessageKind.NOTICE
    assert "没有待转人工的智能答复" in notice.body
    assert await loop.count(Ticket) == 0


async def test_a_bad_rating_of_an_answer_hands_it_over(loop: Loop) -> None:
    ticket = await _answered(loop)
    await loop.reply("1")
    await loop.drain()

    assert (await loop.ticket(ticket.id)).state is TicketState.REOPENED
    async with loop.db.read() as session:
        row = await session.scalar(sa.select(AutoAnswer).where(AutoAnswer.ticket_id == ticket.id))
    assert row is not None
    assert row.handover_reason == "bad_rating"


async def test_a_follow_up_question_is_appended_and_reopens_the_answer(loop: Loop) -> None:
    ticket = await _answered(loop)
    loop.clock.advance(timedelta(hours=1))
    reply_id = await loop.reply(UNSURE)
    [done] = await loop.drain()

    assert done.ticket_id == ticket.id
    after = await loop.ticket(ticket.id)
    assert after.state is TicketState.REOPENED
    assert UNSURE in after.body
    assert (await _event(loop, ticket.id, "reopened")).data["handover"] == "follow_up"
    async with loop.db.read() as session:
        rows = list(await session.scalars(sa.select(AutoAnswer).order_by(AutoAnswer.id)))
    assert [(r.ticket_id, r.handover_reason) for r in rows] == [(ticket.id, "follow_up")]
    [ack] = await loop.messages(MessageKind.TICKET_ACK)
    assert "转人工办理" in ack.body
    assert (await loop.stored(reply_id)).ticket_id == ticket.id


async def test_the_same_entry_asked_again_is_a_follow_up_too(loop: Loop) -> None:
    ticket = await _answered(loop)
    await loop.reply("营业执照补办要多久")
    [done] = await loop.drain()

    assert done.ticket_id == ticket.id
    assert (await loop.ticket(ticket.id)).state is TicketState.REOPENED
    assert len(await loop.messages(MessageKind.AUTO_ANSWER)) == 1


async def test_another_question_answered_by_another_entry_is_answered_on_its_own(
    loop: Loop,
) -> None:
    first = await _answered(loop)
    second = await _answered(loop, TAX_QUESTION)

    assert second.id != first.id
    assert (await loop.ticket(first.id)).state is TicketState.RESOLVED
    assert second.state is TicketState.RESOLVED
    assert len(await loop.messages(MessageKind.AUTO_ANSWER)) == 2


async def test_a_question_after_the_append_window_is_a_new_ticket(loop: Loop) -> None:
    first = await _answered(loop)
    loop.clock.advance(timedelta(hours=73))  # tickets.append_window_hours: 72
    second = await _answered(loop, UNSURE)

    assert second.id != first.id
    assert (await loop.ticket(first.id)).state is TicketState.RESOLVED
    assert second.state is TicketState.ASSIGNED


async def test_an_unsure_question_is_a_ticket_with_three_suggestions(loop: Loop) -> None:
    reply_id = await loop.reply(UNSURE)
    [done] = await loop.drain()

    ticket = await loop.ticket(done.ticket_id or 0)
    assert ticket.state is TicketState.ASSIGNED
    [ack] = await loop.messages()
    assert ack.kind is MessageKind.TICKET_ACK
    row = await _auto(loop, reply_id)
    assert (row.ticket_id, row.answered, row.answer, row.token) == (ticket.id, False, None, None)
    assert (row.entry_id, row.score, row.margin) == ("FAQ-REG-001", 0.41, 0.04)
    assert [s["entry_id"] for s in row.suggestions] == ["FAQ-REG-001", "FAQ-TAX-001", "FAQ-SI-001"]


async def test_with_answers_disabled_a_sure_question_is_a_ticket_with_its_suggestions(
    loop: Loop,
) -> None:
    applier = loop.worker.applier
    assert applier.assistant is not None
    applier.assistant = Assistant(applier.assistant.library, applier.answerer, BASE_URL,
                                  enabled=False)  # fmt: skip
    reply_id = await loop.reply(QUESTION)
    await loop.drain()

    [ack] = await loop.messages()
    assert ack.kind is MessageKind.TICKET_ACK
    row = await _auto(loop, reply_id)
    assert (row.answered, row.entry_id) == (False, "FAQ-REG-001")


async def test_an_unknown_sender_is_never_answered_automatically(loop: Loop) -> None:
    reply_id = await loop.reply(QUESTION, sender=STRANGER)
    [done] = await loop.drain()

    ticket = await loop.ticket(done.ticket_id or 0)
    assert ticket.contact_id is None
    assert [m.kind for m in await loop.messages()] == [MessageKind.TICKET_ACK]
    assert (await _auto(loop, reply_id)).answered is False


async def test_courtesy_alone_and_media_are_not_asked(loop: Loop) -> None:
    await _answered(loop)
    scripted = loop.worker.applier.assistant.library  # type: ignore[union-attr]
    assert isinstance(scripted, Scripted)
    scripted.asked.clear()
    await loop.reply("谢谢！")
    await loop.reply("", raw={"MsgType": "image", "MediaId": "m-1"})
    await loop.drain()

    assert scripted.asked == []
    async with loop.db.read() as session:
        count = sa.select(sa.func.count()).select_from(TicketEvent)
        reopened = await session.scalar(count.where(TicketEvent.type == "reopened"))
    assert reopened == 0


async def test_on_sms_the_answer_is_the_approved_template_with_the_answer_page_link(
    loop: Loop,
) -> None:
    reply_id = await loop.reply(QUESTION, channel=ChannelName.SMS)
    [done] = await loop.drain()

    [message] = await loop.messages()
    assert (message.kind, message.channel) == (MessageKind.AUTO_ANSWER, ChannelName.SMS)
    row = await _auto(loop, reply_id)
    link = answer_link(BASE_URL, row.token or "")
    assert link in message.body
    ticket = await loop.ticket(done.ticket_id or 0)
    assert ticket.number in message.body
    assert LICENCE.answer not in message.body  # the page shows it
    assert message.params["template_ids"]["tencent"] == "1000211"
    assert link in message.params["values"]


async def test_processing_a_reply_again_answers_nothing_twice(loop: Loop) -> None:
    reply_id = await loop.reply(QUESTION)
    await loop.drain()
    await loop.worker.process(reply_id)

    assert len(await loop.messages()) == 1
    assert await loop.count(AutoAnswer) == 1
    async with loop.db.read() as session:
        kinds = (await session.scalars(sa.select(Message.kind))).all()
    assert list(kinds) == [MessageKind.AUTO_ANSWER]


async def test_a_long_answer_is_cut_in_the_message_and_whole_on_its_page(loop: Loop) -> None:
    long_entry = replace(LICENCE, entry_id="FAQ-LONG", answer="材料清单：" + "营业执照副本；" * 120)
    scripted = loop.worker.applier.assistant.library  # type: ignore[union-attr]
    assert isinstance(scripted, Scripted)
    scripted.verdicts["材料清单有哪些"] = sure("材料清单有哪些", long_entry)
    reply_id = await loop.reply("材料清单有哪些")  # default.j2, as WeCom renders it
    await loop.drain()

    [message] = await loop.messages()
    row = await _auto(loop, reply_id)
    assert row.answer == long_entry.answer  # the page shows it whole
    assert long_entry.answer not in message.body
    assert f"……（完整答复：{answer_link(BASE_URL, row.token or '')}）" in message.body
    assert len(message.body.encode()) <= 2048  # a WeCom text's limit


async def test_a_handover_goes_to_a_present_handler_of_the_department(loop: Loop) -> None:
    answered = await _answered(loop)
    async with loop.db.write() as session:
        first = await session.get(Staff, answered.handler_id)
        assert first is not None
        first.absent = True  # away since the answer went out
    await loop.reply("人工")
    await loop.drain()

    ticket = await loop.ticket(answered.id)
    assert ticket.state is TicketState.REOPENED
    assert ticket.handler_id not in (None, answered.handler_id)
    assert ticket.department_id == answered.department_id
    assert (await _event(loop, ticket.id, "assigned")).reason == "转人工：原经办人不在岗或未分派"


async def test_a_sure_answer_is_routed_to_the_department_owning_its_entry(loop: Loop) -> None:
    # A question the library answers goes to the office behind the answer (the entry's
    # department, by name or code), so a handover reaches the office that decides it; an entry
    # naming no known department (LICENCE: 市场监督管理局 is none of this city's) routes as any.
    subsidy = Entry("FAQ-SUB-001", 1, "faq", "技改补助", ("技术改造补助怎么申请？",),
                    "每年3月在发改委网站申报。", "市技改资金管理办法",
                    department="发展和改革委员会")  # fmt: skip
    by_code = Entry("FAQ-SUB-002", 1, "faq", "项目备案", ("企业投资项目怎么备案？",),
                    "在投资项目在线审批监管平台备案。", "企业投资项目核准和备案管理条例",
                    department="fgw")  # fmt: skip
    scripted = loop.worker.applier.assistant
    assert scripted is not None
    knowledge = scripted.library
    assert isinstance(knowledge, Scripted)
    knowledge.verdicts["技改补助怎么申请"] = sure("技改补助怎么申请", subsidy)
    knowledge.verdicts["项目备案怎么弄"] = sure("项目备案怎么弄", by_code)

    owned = await _answered(loop, "技改补助怎么申请")
    coded = await _answered(loop, "项目备案怎么弄", sender="+8613900000002")  # 乙商贸
    routed = await _answered(loop, QUESTION, sender="+8613900000003")  # 丙软件

    fgw = loop.world.departments["FGW"]
    assert (owned.department_id, coded.department_id) == (fgw, fgw)
    assert (await _event(loop, owned.id, "created")).data["routed_by"] == "answer"
    assert routed.department_id == loop.world.departments["GXJ"]
    assert (await _event(loop, routed.id, "created")).data["routed_by"] != "answer"
    loop.clock.advance(timedelta(hours=1))
    await loop.reply("人工")
    await loop.drain()
    assert (await loop.ticket(owned.id)).department_id == fgw  # the handover stays there
