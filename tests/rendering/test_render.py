"""The renderer: sandbox, caps, StrictUndefined, SMS parameters and WeChat fields (no I/O)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from hub.core.errors import RenderError
from hub.rendering.render import TemplateRenderer
from hub.rendering.sandbox import RenderLimits
from hub.rendering.sms_text import SmsLength, measure_sms
from hub.rendering.template_spec import (
    Catalog,
    SmsParam,
    SmsSpec,
    TemplateSpec,
    Variable,
    WechatSpec,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def free_text(body: str, **variables: Variable) -> TemplateSpec:
    return TemplateSpec("notice", "sandbox", body, "default.j2", variables=variables)


def render(body: str, context: dict[str, Any] | None = None, **limits: Any) -> str:
    renderer = TemplateRenderer(Catalog(), limits=RenderLimits(**limits))
    return renderer.render_spec(free_text(body), context or {}).body


APPROVED = TemplateSpec(
    "credit_warning",
    "sms",
    "${company}：贵企业存在信用风险事项“${item}”（${date}），请联系${officer}。",
    "sms.j2",
    sms=SmsSpec(
        {"tencent": "1000101", "aliyun": "SMS_000000101"},
        (
            SmsParam("company", "enterprise.name"),
            SmsParam("item", "risk_item"),
            SmsParam("date", "found_on"),
            SmsParam("officer", 'officer_name or "企业服务专员"', max_chars=6),
        ),
    ),
    variables={
        "risk_item": Variable("risk_item", "风险事项", "未按期公示年报"),
        "found_on": Variable("found_on", "日期", "2026年11月20日"),
    },
)
SMS_CONTEXT = {
    "enterprise": {"name": "甲机械"},
    "risk_item": "未按期公示年报",
    "found_on": "2026年11月20日",
    "officer_name": "李明",
}


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ enterprise.__class__.mro() }}",
        "{{ range.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ tags.append('x') }}",
        "{{ enterprise.update({'name': 'x'}) }}",
        "{{ enterprise.pop('name') }}",
    ],
)
def test_the_sandbox_refuses_private_attributes_and_mutation(body: str) -> None:
    context = {"enterprise": {"name": "甲机械"}, "tags": ["专精特新"]}
    with pytest.raises(RenderError, match="不允许的操作"):
        render(body, context)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "循环",
        ),
        ("{% for a in 'x' * 9000 %}{% for b in 'x' * 9000 %}{% endfor %}{% endfor %}", "循环"),
        ("{{ 'x' * 1000000000 }}", "长度"),
        ("{{ 9 ** (9 ** 9) }}", "乘方"),
        ("{{ 'x' | center(1000000000) }}", "参数"),
        ("{{ '%999999999s' % 'x' }}", "格式宽度"),
        ("{{ '{:>999999999}'.format('x') }}", "格式宽度"),
        ("{% set s = 'x' * 1024 %}" + "{% set s = s ~ s %}" * 40 + "{{ s }}", "长度"),
        ("{% for i in range(99999) %}xxxxxxxxxx{% endfor %}", "输出"),
        ("{{ 'x' * 5000 }}", "超过上限 4096"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "递归"),
    ],
)
def test_runaway_templates_stop_with_a_render_error(body: str, reason: str) -> None:
    # This thread's CPU seconds, not the wall clock's: on a shared machine the wall clock
    # measures the other processes. Each of these would run for hours or exhaust memory.
    started = time.thread_time()
    with pytest.raises(RenderError, match=reason):
        render(body)
    assert time.thread_time() - started < 2


def test_the_render_deadline_stops_a_slow_template_whatever_the_step_cap() -> None:
    body = "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}"
    # 10^10 loop steps would take hours: the cap stops them after 0.05 s of the render's CPU
    # time. Measured as this thread's CPU time, which a loaded machine (other processes, other
    # threads holding the GIL) does not stretch: the wall clock once took 1.6 s in CI here.
    started = time.thread_time()
    with pytest.raises(RenderError, match="秒"):
        render(body, max_seconds=0.05, max_loop_steps=10**12, max_chars=10**12)
    assert time.thread_time() - started < 1


def test_a_render_that_waits_is_not_stopped_by_the_cpu_time_cap() -> None:
    # A busy machine deschedules a render for a while: waiting is not work, so a real template
    # still renders (the cap counts the render thread's CPU time, not the wall clock's).
    def stall() -> str:
        time.sleep(0.12)
        return "已等待"

    assert render("{{ stall() }}，{{ stall() }}", {"stall": stall}, max_seconds=0.05) == (
        "已等待，已等待"
    )


def test_ordinary_jinja_still_works_inside_the_caps() -> None:
    body = (
        "{% for t in tags %}{{ loop.index }}.{{ t }} {% endfor %}"
        "{{ tags | join('、') }} {{ '%s-%s' | format(1, 2) }} {{ 'ab' ~ 'c' }} {{ 2 ** 10 }}"
    )
    assert render(body, {"tags": ["专精特新", "小微企业"]}) == (
        "1.专精特新 2.小微企业 专精特新、小微企业 1-2 abc 1024"
    )


def test_a_missing_variable_fails_naming_it_and_its_line() -> None:
    with pytest.raises(RenderError, match=r"第 2 行.*'deadline' is undefined"):
        render("您好，\n截止日期：{{ deadline }}")
    with pytest.raises(RenderError, match="no attribute 'officer'"):
        render("{{ enterprise.officer }}", {"enterprise": {"name": "甲机械"}})


def test_a_declared_variable_missing_is_named_with_its_description() -> None:
    spec = free_text("{{ text }}", text=Variable("text", "通知正文", "示例"))
    renderer = TemplateRenderer(Catalog([spec]))
    with pytest.raises(RenderError, match="缺少变量 text（通知正文）"):
        renderer.render("notice", "sandbox", {})


def test_an_optional_variable_takes_its_default() -> None:
    spec = free_text(
        "{{ text }}", text=Variable("text", "正文", "示例", required=False, default="无")
    )
    assert TemplateRenderer(Catalog([spec])).render("notice", "sandbox", {}) == "无"


def test_sms_params_come_in_declared_order_and_fill_the_approved_text() -> None:
    rendered = TemplateRenderer(Catalog([APPROVED])).render_message(
        "credit_warning", "sms", SMS_CONTEXT
    )
    assert rendered.params == ("甲机械", "未按期公示年报", "2026年11月20日", "李明")
    assert rendered.param_names == ("company", "item", "date", "officer")
    assert (
        rendered.body
        == "甲机械：贵企业存在信用风险事项“未按期公示年报”（2026年11月20日），请联系李明。"
    )
    assert rendered.provider_template_ids == {"tencent": "1000101", "aliyun": "SMS_000000101"}
    assert rendered.template_param() == {
        "company": "甲机械",
        "item": "未按期公示年报",
        "date": "2026年11月20日",
        "officer": "李明",
    }
    assert rendered.message_params()["values"] == list(rendered.params)
    assert APPROVED.sms is not None
    assert APPROVED.sms.tencent_text(APPROVED.body) == (
        "{1}：贵企业存在信用风险事项“{2}”（{3}），请联系{4}。"
    )


def test_sms_params_are_one_line_and_shortened_to_their_cap_while_the_check_sees_them_whole() -> (
    None
):
    renderer = TemplateRenderer(Catalog([APPROVED]))
    context = {**SMS_CONTEXT, "officer_name": "欧阳\n慕容雪儿"}
    assert renderer.render_message("credit_warning", "sms", context).params[3] == "欧阳 慕容…"
    assert renderer.render_spec(APPROVED, context, fit=False).params[3] == "欧阳 慕容雪儿"


@pytest.mark.parametrize(
    ("officer", "expected"),
    [
        ("欧阳 雪", "欧阳 雪"),
        ("欧阳  雪", "欧阳 雪"),
        (" 欧阳雪 ", "欧阳雪"),
        ("欧阳\t雪", "欧阳 雪"),
        ("欧阳\u3000雪", "欧阳 雪"),  # the ideographic space
        ("欧阳\xa0雪", "欧阳 雪"),
        ("欧阳\u2028雪", "欧阳 雪"),
    ],
)
def test_sms_params_keep_single_spaces_and_fold_every_other_whitespace(
    officer: str, expected: str
) -> None:
    renderer = TemplateRenderer(Catalog([APPROVED]))
    context = {**SMS_CONTEXT, "officer_name": officer}
    assert renderer.render_spec(APPROVED, context, fit=False).params[3] == expected


def test_an_empty_sms_param_is_an_error_because_providers_refuse_it() -> None:
    renderer = TemplateRenderer(Catalog([APPROVED]))
    with pytest.raises(RenderError, match="短信参数 item 的值为空"):
        renderer.render_message("credit_warning", "sms", {**SMS_CONTEXT, "risk_item": " "})


def test_wechat_fields_are_rendered_single_line_and_at_most_20_chars() -> None:
    spec = TemplateSpec(
        "notice",
        "wechat",
        "{{ enterprise.name }}：{{ text }}",
        "default.j2",
        variables={"text": Variable("text", "正文", "x")},
        wechat=WechatSpec("TPL", (("thing1", "{{ enterprise.name }}"), ("thing2", "{{ text }}"))),
    )
    context = {
        "enterprise": {"name": "齐齐哈尔市鹤城区某某精密机械制造有限责任公司"},
        "text": "一\n二",
    }
    rendered = TemplateRenderer(Catalog([spec])).render_message("notice", "wechat", context)
    assert rendered.fields == {
        "thing1": "齐齐哈尔市鹤城区某某精密机械制造有限责…",
        "thing2": "一 二",
    }
    assert len(rendered.fields["thing1"]) == 20
    assert rendered.provider_template_ids == {"wechat": "TPL"}


@pytest.mark.parametrize(
    ("body_chars", "sign", "chars", "segments"),
    [
        (64, "主动服务", 70, 1),  # 【主动服务】 is 6 characters of the 70
        (65, "主动服务", 71, 2),
        (128, "主动服务", 134, 2),
        (129, "主动服务", 135, 3),
        (60, "齐齐哈尔市营商环境建设监督局", 76, 2),
    ],
)
def test_sms_length_counts_the_signature(
    body_chars: int, sign: str, chars: int, segments: int
) -> None:
    assert measure_sms("字" * body_chars, sign) == SmsLength(chars, segments)


def test_a_folder_renderer_falls_back_to_default_j2_and_names_a_missing_kind(
    tmp_path: Path,
) -> None:
    # Every kind ships templates now: a folder with two of them stands for one lacking a kind.
    for kind in ("notice", "credit_warning"):
        shutil.copytree(TEMPLATES / kind, tmp_path / kind)
    renderer = TemplateRenderer(tmp_path)
    assert renderer.template_name("notice", "sms") == "notice/default.j2"
    assert renderer.template_name("credit_warning", "sms") == "credit_warning/sms.j2"
    with pytest.raises(RenderError, match="没有 sms 渠道的模板"):
        renderer.render("escalation", "sms", {})
