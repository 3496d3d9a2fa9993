"""A liaison officer's commands by WeCom or Telegram: his visit outcomes and contacts.

Officers are not contacts: a reply whose sender is no contact but an officer's
``wecom_userid`` (WeCom) or ``telegram_chat_id`` (Telegram), and whose text starts with
``走访`` or ``联系``, is a command, applied through :mod:`hub.visits.outcome` and answered on
the same channel (a ``notice``)::

    走访 42 完成 [记录：座谈顺利] [问题：厂区道路破损需维修@FGW；用电容量不足]
    走访 42 未完成 原因：企业负责人出差
    走访 42 改约 3月2日上午
    联系 91320100MA1XXXXXXX 电话 已电话了解用工需求      (电话 / 会面 / 线上)

Problems are separated by ``；`` (or ``;``, a new line); ``@CODE`` after one names the
department it goes to, else the routing rules decide. A visit or enterprise of another
officer is refused, as is anything :mod:`hub.visits.outcome` refuses (a visit already done, a
day off); the answer says why. The reply is recorded as a ``visit_answer`` with the command in
its detail; its enterprise stays empty (an officer's message is no reply from an enterprise,
and does not count as the enterprise's contact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.errors import HubError, UsageError
from hub.core.vocab import ChannelName, ContactVia, MessageKind, ReplyClass
from hub.inbound.answers import Answerer
from hub.inbound.classify.classifier import Classification
from hub.inbound.classify.times import find_time
from hub.inbound.outcome import Applied
from hub.store.db import Database
from hub.store.models import Enterprise, Officer
from hub.store.models import InboundReply as StoredReply
from hub.tickets.policy import load_ticket_policy
from hub.tickets.settings import TicketsConfig
from hub.visits.outcome import (
    ProblemFound,
    find_enterprise,
    find_visit,
    record_agreed_time,
    record_contact,
    record_done,
    record_not_done,
)

USAGE: Final = (
    "联络员指令格式：走访 编号 完成 问题：…；…（可在问题后加 @部门编码）｜"
    "走访 编号 未完成 原因：…｜走访 编号 改约 3月2日上午｜"
    "联系 统一社会信用代码 电话/会面/线上 内容"
)
_OFFICER_COLUMN: Final = {
    ChannelName.WECOM: Officer.wecom_userid,
    ChannelName.TELEGRAM: Officer.telegram_chat_id,
}
_VISIT = re.compile(r"^走访\s*(\d+)\s*(已完成|完成|未完成|没完成|改约|约定|预约)\s*(.*)$", re.S)
_CONTACT = re.compile(r"^联系\s*([0-9A-Za-z]{18})\s*(\S*)\s*(.*)$", re.S)
_LABEL = re.compile(r"(记录|问题|原因)\s*[：:]")
_SPLIT = re.compile(r"[；;\n]+")
_DEPARTMENT = re.compile(r"\s*[@＠]\s*([A-Za-z0-9_-]+)\s*$")
_VIA_WORDS: Final = {
    "电话": ContactVia.PHONE, "phone": ContactVia.PHONE,
    "会面": ContactVia.MEETING, "见面": ContactVia.MEETING, "座谈": ContactVia.MEETING,
    "meeting": ContactVia.MEETING,
    "线上": ContactVia.ONLINE, "微信": ContactVia.ONLINE, "视频": ContactVia.ONLINE,
    "online": ContactVia.ONLINE,
}  # fmt: skip


async def is_officer_chat(db: Database, chat_id: str) -> bool:
    """Whether a Telegram chat is a liaison officer's: the bot stores its texts as replies
    (an unlinked chat's are refused) so his commands reach the worker."""
    async with db.read() as session:
        found = await session.scalar(
            sa.select(Officer.id).where(Officer.telegram_chat_id == chat_id).limit(1)
        )
    return found is not None


def _labelled(text: str) -> dict[str, str]:
    """``记录：… 问题：…`` as {label: text}; what precedes the first label is ``记录``."""
    parts: dict[str, str] = {}
    matches = list(_LABEL.finditer(text))
    head = text[: matches[0].start()] if matches else text
    if head.strip():
        parts["记录"] = head.strip()
    for n, found in enumerate(matches):
        end = matches[n + 1].start() if n + 1 < len(matches) else len(text)
        parts[found.group(1)] = text[found.end() : end].strip()
    return parts


def _problems(text: str) -> list[ProblemFound]:
    problems = []
    for piece in _SPLIT.split(text):
        cleaned = piece.strip(" 。，,")
        if not cleaned:
            continue
        named = _DEPARTMENT.search(cleaned)
        department = named.group(1).upper() if named else None
        body = cleaned[: named.start()].strip() if named else cleaned
        if body:
            problems.append(ProblemFound(body, department))
    return problems


@dataclass(frozen=True, slots=True)
class OfficerCommands:
    """Recognises an officer's command in a reply and applies it (see the module docstring)."""

    settings: TicketsConfig
    answerer: Answerer

    async def officer_of(self, session: AsyncSession, reply: StoredReply) -> Officer | None:
        """The officer who sent a command (his WeCom user id or Telegram chat); else None."""
        column = _OFFICER_COLUMN.get(ChannelName(reply.channel))
        text = reply.text.strip()
        if column is None or not reply.sender or not text.startswith(("走访", "联系")):
            return None
        return await session.scalar(sa.select(Officer).where(column == reply.sender).limit(1))

    async def apply(
        self, session: AsyncSession, reply: StoredReply, officer: Officer, now: datetime
    ) -> tuple[Classification, Applied]:
        """Apply the command (in a savepoint: a refusal writes nothing) and answer it."""
        text = reply.text.strip()
        data: dict[str, object] = {"officer": officer.code, "command": text[:200]}
        try:
            async with session.begin_nested():
                summary = await self._run(session, officer, text, reply, now, data)
            outcome = f"联络员 {officer.code} 指令：{summary}"
        except HubError as exc:
            summary = f"未执行：{exc}"
            data["refused"] = str(exc)
            outcome = f"联络员 {officer.code} 指令未执行：{exc}"
        answer = await self.answerer.answer(
            session, reply, None, purpose="officer", kind=MessageKind.NOTICE,
            variables={"text": summary}, now=now,
        )  # fmt: skip
        found = Classification(ReplyClass.VISIT_ANSWER, text, "联络员指令")
        return found, Applied(outcome, answers=[answer], data=data)

    async def _run(
        self, session: AsyncSession, officer: Officer, text: str, reply: StoredReply,
        now: datetime, data: dict[str, object],
    ) -> str:  # fmt: skip
        by = f"officer:{officer.code}"
        if visit_command := _VISIT.match(text):
            visit_id, verb, rest = int(visit_command[1]), visit_command[2], visit_command[3]
            data["visit_id"] = visit_id
            await self._own_visit(session, officer, visit_id)
            if verb in ("已完成", "完成"):
                parts = _labelled(rest)
                outcome = await record_done(
                    session, visit_id, at=None, notes=parts.get("记录"),
                    problems=_problems(parts.get("问题", "")), by=by, now=now,
                    policy=await load_ticket_policy(session, self.settings),
                )  # fmt: skip
                data["tickets"] = [t.number for t in outcome.tickets]
            elif verb in ("未完成", "没完成"):
                reason = _labelled(rest).get("原因") or rest
                outcome = await record_not_done(session, visit_id, reason=reason, by=by, now=now)
            else:
                mention = find_time(rest, now)
                if mention is None or mention.at is None:
                    raise UsageError(
                        f"未能识别改约的时间“{rest.strip()}”，请写明日期和时间，如 3月2日上午"
                    )
                policy = await load_ticket_policy(session, self.settings)
                outcome = await record_agreed_time(
                    session, visit_id, at=mention.at, by=by, now=now, calendar=policy.calendar,
                    tz=policy.tz,
                )  # fmt: skip
            return outcome.summary(self.answerer.tz)
        if contact_command := _CONTACT.match(text):
            uscc, word, notes = contact_command[1], contact_command[2], contact_command[3]
            via = _VIA_WORDS.get(word.lower())
            if via is None:  # no way named: the word is part of the notes, a call by default
                via, notes = ContactVia.PHONE, f"{word} {notes}".strip()
            enterprise = await find_enterprise(session, uscc)
            if enterprise.officer_id != officer.id:
                raise UsageError(f"{enterprise.name}不是您联络的企业")
            recorded = await record_contact(
                session, enterprise.id, via=via, at=None, notes=notes, officer=officer,
                source=f"{reply.channel}:{officer.code}", now=now,
            )  # fmt: skip
            data["contact_id"] = recorded.id
            return recorded.summary(self.answerer.tz)
        raise UsageError(f"未能识别指令。{USAGE}")

    @staticmethod
    async def _own_visit(session: AsyncSession, officer: Officer, visit_id: int) -> None:
        visit = await find_visit(session, visit_id)
        if visit.officer_id != officer.id:
            name = await session.scalar(
                sa.select(Enterprise.name).where(Enterprise.id == visit.enterprise_id)
            )
            raise UsageError(f"走访 {visit_id}（{name}）不是您负责的走访")
