"""The audit log's actions and objects as the page names them, in Chinese.

Rows keep the action as written (``ticket.resolve``, ``staff.signed_in``, ``faq.updated`` …):
the filter matches it, the API and exports return it. The page shows a label beside it. An
action not named here is shown as written, so a new one is never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from hub.tickets.desk import STEP_LABELS

__all__ = ["action_label", "target_label"]

#: What a row's ``target_type`` (and an action's first word) names.
OBJECTS: Final[Mapping[str, str]] = {
    "staff": "工作人员", "template": "消息模板", "schedule": "定时计划", "campaign": "发送批次",
    "ticket": "工单", "visit": "走访", "faq": "问答", "policy": "政策", "credit_event": "信用记录",
    "licence": "证照", "annual_report": "年报", "enterprise": "企业", "contact": "联系人",
    "message": "消息", "reply": "回复", "import": "导入", "calendar": "工作日历",
}  # fmt: skip
#: Every action written by name (a ticket's step and a record's created/updated are composed).
ACTIONS: Final[Mapping[str, str]] = {
    "staff.signed_in": "登录", "staff.signed_out": "退出登录", "staff.sign_in_failed": "登录失败",
    "staff.locked": "账号锁定", "staff.added": "新增工作人员", "staff.absent": "设为不在岗",
    "staff.back": "恢复在岗", "staff.password_set": "设置密码",
    "staff.password_changed": "修改密码", "staff.officer_linked": "关联联络员",
    "staff.token_issued": "签发接口令牌", "staff.token_revoked": "吊销接口令牌",
    "template.save": "保存模板", "template.rollback": "回滚模板", "template.test_send": "模板试发",
    "schedule.create": "新建定时计划", "schedule.save": "修改定时计划",
    "schedule.run": "立即运行定时计划", "schedule.enable": "启用定时计划",
    "schedule.disable": "停用定时计划",
    "campaign.pause": "暂停发送", "campaign.resume": "恢复发送", "campaign.cancel": "取消发送",
    "visit.done": "登记走访完成", "visit.not-done": "登记走访未完成",
    "visit.schedule": "登记约定时间",
    "sandbox.reply": "模拟手机回复", "message.retry": "重发死信消息",
    "enterprise_import_started": "开始导入企业名册",
    "enterprise_import_finished": "企业名册导入结束",
    "enterprise.credit_status": "信用状况变更", "contact.telegram_bound": "绑定 Telegram",
    "opt_out_lifted": "解除退订", "calendar_year": "调整工作日历", "alert": "系统告警",
}  # fmt: skip
_VERBS: Final[Mapping[str, str]] = {"created": "新增", "updated": "修改"}


def action_label(action: str) -> str:
    """``ticket.resolve`` -> ``工单：办结``, ``faq.updated`` -> ``修改问答``; ``""`` for an
    action this module does not name."""
    if action in ACTIONS:
        return ACTIONS[action]
    thing, _, verb = action.partition(".")
    if thing == "ticket" and verb in STEP_LABELS:
        return f"工单：{STEP_LABELS[verb]}"
    if verb in _VERBS and thing in OBJECTS:
        return f"{_VERBS[verb]}{OBJECTS[thing]}"
    return ""


def target_label(target_type: str, target_id: str | None) -> str:
    """``staff`` + ``demo-admin`` -> ``工作人员 demo-admin`` (an unknown type as written)."""
    thing = OBJECTS.get(target_type, target_type)
    return thing + (f" {target_id}" if target_id else "")
