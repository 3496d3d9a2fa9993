"""The credit_warning SMS is true for each of its three audiences: one approved text (the
provider's template), the difference carried by its params (state, help).

Each case renders the params as the provider would fill them into the approved text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.rendering.render import TemplateRenderer
from hub.rendering.sms_text import PLACEHOLDER
from hub.rendering.templates import load_folder

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
APPROVED = (TEMPLATES / "credit_warning" / "sms.j2").read_text(encoding="utf-8").strip()

EVENT: dict[str, Any] = {
    "risk_item": "行政处罚：未按规定公示年度报告",
    "found_on": "2026年11月20日",
    "authority": "龙沙区市场监督管理局",
    "event_id": "XY2026-0001",
}
#: What every credit_warning render gets about the enterprise (hub.outbound.notify
#: enterprise_context) and the hub (notify adds hub_name and the recipient as ``contact``).
ENTERPRISE: dict[str, Any] = {
    "hub_name": "企业服务",
    "enterprise": {"name": "甲机械", "uscc": "", "tier": "", "industry": "", "region": "",
                   "tags": ()},
    "officer_name": "李明",
    "officer_mobile": "+8613900000009",
}  # fmt: skip


def provider_text(context: dict[str, Any]) -> str:
    """The SMS as delivered: the rendered params filled into the approved text."""
    rendered = TemplateRenderer(load_folder(TEMPLATES).catalog).render_message(
        "credit_warning", "sms", context
    )
    params = rendered.template_param()
    return PLACEHOLDER.sub(lambda m: params[m.group(1)], APPROVED)


def test_the_enterprise_warning_asks_it_to_repair_and_names_its_officer() -> None:
    text = provider_text({**ENTERPRISE, **EVENT, "contact": {"name": "张三"}})
    assert text == (
        "甲机械信用提示：行政处罚：未按规定公示年度报告（龙沙区市场监督管理局于2026年11月20日认定）"
        "，请尽快整改并申请信用修复。如需协助请联系联络员李明，电话13900000009。"
    )


def test_the_closing_notice_says_the_warning_is_lifted() -> None:
    context = {**ENTERPRISE, **EVENT, "closed_state": "已修复", "contact": {"name": "张三"}}
    text = provider_text(context)
    assert "已修复，信用警示解除。" in text
    assert "请尽快整改" not in text
    assert text.endswith("如需协助请联系联络员李明，电话13900000009。")


@pytest.mark.parametrize(
    ("contact", "help_text"),
    [
        ({"enterprise_contact_name": "张三", "enterprise_contact_mobile": "+8613800000001"},
         "企业联系人张三，电话13800000001。"),
        ({"enterprise_contact_name": "张三"}, "企业联系人张三。"),
        ({}, "请按企业登记的联系方式与其联系。"),
    ],
)  # fmt: skip
def test_the_officer_notice_names_the_enterprise_and_whom_to_call_not_himself(
    contact: dict[str, str], help_text: str
) -> None:
    # The officer's own notice: the enterprise's context (officer_name is him), the item's
    # variables with for_officer, and the recipient (him) as ``contact``.
    context = {**ENTERPRISE, **EVENT, **contact, "for_officer": True, "contact": {"name": "李明"}}
    text = provider_text(context)
    assert text.startswith("甲机械信用提示：行政处罚：未按规定公示年度报告")
    assert "您联络的该企业已收到警示，请协助其申请信用修复" in text
    assert "李明" not in text  # not told to contact himself
    assert "13900000009" not in text
    assert "请尽快整改" not in text
    assert text.endswith(help_text)


def test_without_an_officer_the_enterprise_is_pointed_at_the_hotline() -> None:
    context = {**ENTERPRISE, **EVENT, "officer_name": "", "officer_mobile": ""}
    assert provider_text(context).endswith("。如需协助请拨打政务服务热线12345。")


def test_the_officer_wechat_fields_do_not_ask_him_to_repair() -> None:
    renderer = TemplateRenderer(load_folder(TEMPLATES).catalog)
    officer = {**ENTERPRISE, **EVENT, "for_officer": True}
    fields = renderer.render_message("credit_warning", "wechat", officer).fields
    assert fields["thing1"] == "甲机械"
    assert fields["thing4"] == "请协助企业申请信用修复"
    enterprise = renderer.render_message("credit_warning", "wechat", {**ENTERPRISE, **EVENT})
    assert enterprise.fields["thing4"] == "请尽快整改并申请信用修复"


@pytest.mark.parametrize("channel", ["sandbox", "wecom", "telegram"])
def test_the_officer_text_names_the_enterprise_contact_when_known(channel: str) -> None:
    renderer = TemplateRenderer(load_folder(TEMPLATES).catalog)
    officer = {**ENTERPRISE, **EVENT, "for_officer": True}
    known = {"enterprise_contact_name": "张三", "enterprise_contact_mobile": "+8613800000001"}
    body = renderer.render_message("credit_warning", channel, {**officer, **known}).body
    assert "请及时联系企业（联系人张三，电话13800000001），协助办理信用修复。" in body
    bare = renderer.render_message("credit_warning", channel, officer).body
    assert "请及时联系企业，协助办理信用修复。" in bare
