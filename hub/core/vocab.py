"""The shared vocabulary of docs/design.md: one enum per concept, with the Chinese label users see.

Code, config, templates, the API and the UI all use these values; nothing else spells them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class LabelledEnum(StrEnum):
    """A string enum whose members carry a Chinese label and can be parsed from either form."""

    label: str

    def __new__(cls, value: str, label: str = "") -> LabelledEnum:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value
        return member

    @classmethod
    def parse(cls, text: str) -> LabelledEnum:
        """Return the member named by its value or its Chinese label; ``ValueError`` otherwise.

        The value is matched ignoring case, the label exactly, both after stripping whitespace.
        """
        cleaned = text.strip()
        by_value, by_label = _PARSE_TABLES.get(cls) or _parse_tables(cls)
        as_value, as_label = by_value.get(cleaned.lower()), by_label.get(cleaned)
        if as_value is None:
            if as_label is None:
                raise ValueError(cleaned)
            return as_label[1]
        # the first in definition order wins, as when the members were tried in turn
        return as_value[1] if as_label is None or as_value[0] <= as_label[0] else as_label[1]

    @classmethod
    def choices(cls) -> str:
        """Every accepted spelling, for error messages: ``key/重点、general/一般``."""
        return "、".join(f"{m.value}/{m.label}" for m in cls)


_ParseTable = dict[str, tuple[int, LabelledEnum]]
# Per enum class: (value -> (position, member), label -> (position, member)). Kept out of the
# classes: a name in an Enum body becomes a member, and an attribute set on a class later would
# be found through inheritance on a subclass that has none of its own yet.
_PARSE_TABLES: dict[type[LabelledEnum], tuple[_ParseTable, _ParseTable]] = {}


def _parse_tables(cls: type[LabelledEnum]) -> tuple[_ParseTable, _ParseTable]:
    """Build (once per class) the lookups ``LabelledEnum.parse`` uses."""
    by_value: _ParseTable = {}
    by_label: _ParseTable = {}
    for position, member in enumerate(cls):
        by_value.setdefault(member.value, (position, member))
        by_label.setdefault(member.label, (position, member))
    _PARSE_TABLES[cls] = (by_value, by_label)
    return by_value, by_label


class Tier(LabelledEnum):
    KEY = "key", "重点"
    GENERAL = "general", "一般"
    ORDINARY = "ordinary", "普通"


class Stage(LabelledEnum):
    STARTUP = "startup", "开办"
    OPERATING = "operating", "运营"
    EXITING = "exiting", "退出"


class CreditStatus(LabelledEnum):
    GOOD = "good", "良好"
    WARNING = "warning", "预警"
    DISHONEST = "dishonest", "失信"


class ChannelName(LabelledEnum):
    SMS = "sms", "短信"
    WECHAT = "wechat", "微信公众号"
    WECOM = "wecom", "企业微信"
    TELEGRAM = "telegram", "Telegram"
    SANDBOX = "sandbox", "沙箱"


class MessageKind(LabelledEnum):
    CREDIT_WARNING = "credit_warning", "信用警示"
    CREDIT_REPORT = "credit_report", "半年信用报告"
    CREDIT_REPORT_DIGEST = "credit_report_digest", "信用报告汇总"  # to liaison officers
    POLICY_PUSH = "policy_push", "政策推送"
    PROCEDURE_REMINDER = "procedure_reminder", "办事提醒"
    VISIT_PROPOSAL = "visit_proposal", "走访预约"
    VISIT_REMINDER = "visit_reminder", "走访提醒"  # to liaison officers, with the dossier
    VISIT_UPDATE = "visit_update", "走访答复通知"  # to liaison officers: the enterprise's answer
    OFFICER_TASK = "officer_task", "联络任务"  # to liaison officers: a call or contact to make
    REPORT_DELIVERY = "report_delivery", "报表送达"  # to the business office: ledger, work report
    TICKET_ACK = "ticket_ack", "诉求受理回执"
    TICKET_FEEDBACK = "ticket_feedback", "办理结果反馈"
    RATING_REMINDER = "rating_reminder", "评价提醒"
    EXTENSION_NOTICE = "extension_notice", "延期告知"
    CALLBACK_SURVEY = "callback_survey", "回访调查"
    DEADLINE_REMINDER = "deadline_reminder", "时限提醒"
    ESCALATION = "escalation", "督办升级"
    NOTICE = "notice", "通知"
    AUTO_ANSWER = "auto_answer", "智能答复"  # a question answered from the knowledge base


class MessageStatus(LabelledEnum):
    QUEUED = "queued", "排队中"
    HELD = "held", "暂缓"
    SENDING = "sending", "发送中"
    SENT = "sent", "已发送"
    DELIVERED = "delivered", "已送达"
    FAILED = "failed", "失败"
    SKIPPED = "skipped", "未发送"
    DEAD = "dead", "死信"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset(
    {
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
        MessageStatus.SKIPPED,
        MessageStatus.DEAD,
    }
)


class TicketState(LabelledEnum):
    NEW = "new", "新建"
    ASSIGNED = "assigned", "已分派"
    IN_PROGRESS = "in_progress", "办理中"
    RESOLVED = "resolved", "已办结待评价"
    CLOSED = "closed", "已销号"
    REOPENED = "reopened", "重办"


class TicketEventType(LabelledEnum):
    CREATED = "created", "受理"
    ASSIGNED = "assigned", "分派"
    STARTED = "in_progress", "开始办理"
    TRANSFERRED = "transferred", "转办"
    RETURNED = "returned", "退单"
    EXTENDED = "extended", "延期"
    RESOLVED = "resolved", "办结"
    RATED = "rated", "评价"
    REOPENED = "reopened", "重办"
    CLOSED = "closed", "销号"
    ESCALATED = "escalated", "督办"
    DEADLINE_RECOMPUTED = "deadline_recomputed", "时限重算"
    # closed loop (issue 5): each event's data says what happened
    APPENDED = "appended", "补充"
    REMINDED = "reminded", "时限提醒"
    SLA = "sla", "时限考核"  # data {"result": "hit"|"missed", "level": 0|1|2}
    CALLBACK_DUE = "callback_due", "回访待办"
    CALLBACK_DONE = "callback_done", "已回访"
    RATING_REQUESTED = "rating_requested", "邀请评价"
    RATING_REMINDED = "rating_reminded", "评价提醒"
    RATING_FLAGGED = "rating_flagged", "恶意差评标记"


class TicketCategory(LabelledEnum):
    CONSULTATION = "consultation", "咨询"
    REQUEST = "request", "求助"
    COMPLAINT = "complaint", "投诉"
    SUGGESTION = "suggestion", "建议"


class CallbackMethod(LabelledEnum):
    MESSAGE = "message", "消息回访"
    PHONE = "phone", "电话回访"


class CallbackStatus(LabelledEnum):
    PENDING = "pending", "待回访"
    SENT = "sent", "已发送"
    ANSWERED = "answered", "已回访"
    UNREACHABLE = "unreachable", "无法联系"


class Urgency(LabelledEnum):
    IMMEDIATE = "immediate", "即办"
    URGENT = "urgent", "紧急"
    GENERAL = "general", "一般"
    COMPLEX = "complex", "复杂"
    HARD = "hard", "疑难"


class ReplyClass(LabelledEnum):
    RATING = "rating", "评价"
    UNSUBSCRIBE = "unsubscribe", "退订"
    VISIT_ANSWER = "visit_answer", "走访答复"
    QUERY = "query", "进度查询"
    HELP = "help", "帮助"
    REQUEST = "request", "诉求"
    HANDOVER = "handover", "转人工"


class VisitStatus(LabelledEnum):
    PLANNED = "planned", "待预约"
    PROPOSED = "proposed", "已预约待确认"
    CONFIRMED = "confirmed", "已确认"
    DONE = "done", "已走访"
    CANCELLED = "cancelled", "已取消"


class ContactVia(LabelledEnum):
    """How a liaison officer reached an enterprise, as he records it (visits and replies are
    counted from their own tables)."""

    PHONE = "phone", "电话联系"
    MEETING = "meeting", "会面座谈"
    ONLINE = "online", "线上沟通"


class DepartmentRole(LabelledEnum):
    DEPARTMENT = "department", "行业部门"
    BUSINESS_OFFICE = "business_office", "营商办"


#: The five satisfaction levels (好差评), best first: the one definition every rating prompt,
#: Telegram button and WeCom card draws from (docs/design.md).
RATING_LEVELS: Final[tuple[tuple[int, str], ...]] = (
    (5, "非常满意"),
    (4, "满意"),
    (3, "基本满意"),
    (2, "不满意"),
    (1, "非常不满意"),
)
#: Level -> label, 5 first.
RATING_LABELS: Final[dict[int, str]] = dict(RATING_LEVELS)
#: The five levels as every rating request prints them, exactly: "5 非常满意 4 满意 … 1 非常不满意".
RATING_PROMPT: Final = " ".join(f"{level} {label}" for level, label in RATING_LEVELS)


class VisitAnswer(LabelledEnum):
    """A visit proposal's two answers, as buttons show them; a press is ``visit:<value>``."""

    CONFIRM = "confirm", "确认走访"
    RESCHEDULE = "reschedule", "申请改期"
