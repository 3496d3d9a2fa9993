"""What the phone simulator shows: a contact's sandbox inbox and replies, as one conversation.

The messages are the sandbox channel's deliveries to the contact (``channels.sandbox``), the
replies what the contact sent on any channel; both in time order, the newest at the bottom, as a
phone shows a chat. A message whose row asks for choices (``params["choices"]``) gets the
buttons Telegram and WeCom draw for the same intent (``channels/telegram/keyboards.py``,
``channels/wechat/wecom.py``): the five rating levels in one row; a visit proposal's slots, a row
each, with 申请改期 below; or 确认走访 / 申请改期. A press sends the payload those channels store
for it (``rating:5:GD…``, ``visit:slot:2:42``), which the classifier reads as a button.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from channels.base import Choices
from channels.sandbox import SandboxChannel
from hub.core.vocab import RATING_LABELS, RATING_LEVELS, MessageKind, ReplyClass, VisitAnswer
from hub.queries.phone import PhoneReply, contact_replies, message_choices
from hub.store.db import Database

#: How many of the contact's latest messages and replies the phone shows.
SHOWN = 50


@dataclass(frozen=True, slots=True)
class Button:
    """One button: what it reads and the payload a press sends as the reply's text."""

    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class Bubble:
    """One line of the conversation: a message the contact received (``incoming``) or a reply
    it sent, with its time as the hub's zone reads it; ``rows`` the message's buttons."""

    incoming: bool
    text: str
    at: datetime
    shown_at: str
    kind: str = ""
    status: str = ""
    rows: list[list[Button]] = field(default_factory=list)


def buttons_for(choices: Choices) -> list[list[Button]]:
    """The rows of buttons a message asking ``choices`` shows, as Telegram draws them."""
    if choices.kind == "rating":
        suffix = f":{choices.ref}" if choices.ref else ""
        return [[Button(f"{n} {label}", f"rating:{n}{suffix}") for n, label in RATING_LEVELS]]
    if choices.visit_id is None:
        return []  # a visit question naming no visit: the channels refuse to draw it too
    visit = choices.visit_id
    reschedule = Button(
        VisitAnswer.RESCHEDULE.label, f"visit:{VisitAnswer.RESCHEDULE.value}:{visit}"
    )
    if choices.slots:
        slots = [
            [Button(f"{n} {label}", f"visit:slot:{n}:{visit}")]
            for n, label in enumerate(choices.slots, start=1)
        ]
        return [*slots, [reschedule]]
    return [[Button(answer.label, f"visit:{answer.value}:{visit}") for answer in VisitAnswer]]


# The payloads the classifier reads as buttons (hub/inbound/classify/classifier.py).
_RATING_PRESS = re.compile(r"rating:([1-5])(?::\S{1,64})?")
_VISIT_PRESS = re.compile(r"visit:(confirm|reschedule|decline|slot:[1-9])(?::\d{1,18})?")
_VISIT_LABELS = {**{answer.value: answer.label for answer in VisitAnswer}, "decline": "不需要走访"}


def shown_reply(text: str) -> str:
    """A reply as the phone shows it: a pressed button by its label (``rating:5:GD…`` ->
    ``［按钮］5 非常满意``), typed text as it is."""
    if rating := _RATING_PRESS.fullmatch(text):
        level = int(rating.group(1))
        return f"［按钮］{level} {RATING_LABELS[level]}"
    if visit := _VISIT_PRESS.fullmatch(text):
        key = visit.group(1)
        if key.startswith("slot:"):
            return f"［按钮］选择第 {key.removeprefix('slot:')} 个时间"
        return f"［按钮］{_VISIT_LABELS[key]}"
    return text


def _kind_label(kind: str) -> str:
    try:
        return MessageKind(kind).label
    except ValueError:
        return kind


def _reply_status(reply: PhoneReply) -> str:
    if reply.classification is None:
        return "待处理"
    return f"已处理：{ReplyClass(reply.classification).label}"


def _aware(at: datetime) -> datetime:
    """A stored time as UTC (SQLite hands naive UTC back)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def conversation(
    db: Database, sandbox: SandboxChannel, contact_id: int, tz: ZoneInfo
) -> list[Bubble]:
    """The contact's latest messages and replies, oldest first (the newest at the bottom)."""
    received = await sandbox.inbox(contact_id, SHOWN)
    ids = [int(str(item["message_id"])) for item in received]
    choices = await message_choices(db, ids)

    def shown(at: datetime) -> str:
        return f"{at.astimezone(tz):%m-%d %H:%M}"

    # Sorted by time; at the same instant (a fixed clock, a fast worker) a reply comes after
    # the message it answers and before the messages sent after that one.
    keyed: list[tuple[tuple[datetime, int, int], Bubble]] = []
    for item, message_id in zip(received, ids, strict=True):
        at = _aware(datetime.fromisoformat(str(item["at"])))
        rows = buttons_for(choices[message_id]) if message_id in choices else []
        bubble = Bubble(True, str(item["body"]), at, shown(at), _kind_label(str(item["kind"])),
                        rows=rows)  # fmt: skip
        keyed.append(((at, message_id, 1), bubble))
    for reply in await contact_replies(db, contact_id, limit=SHOWN):
        at = _aware(reply.received_at)
        bubble = Bubble(False, shown_reply(reply.text), at, shown(at), status=_reply_status(reply))
        keyed.append(((at, reply.in_reply_to or 0, 2), bubble))
    keyed.sort(key=lambda pair: pair[0])
    return [bubble for _, bubble in keyed[-SHOWN:]]
