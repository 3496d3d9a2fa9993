"""Message templates in the admin (``/admin/templates``): edit, check, preview for an
enterprise, save a version, diff, roll back, test send to the sandbox; admins edit only.

The hub runs as ``hub run`` builds it (``open_components``: the shipped templates seeded into
the database, the sandbox channel), on the fixed clock.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from channels.sandbox import SandboxChannel
from hub.app.config import load_settings
from hub.app.processes import web_app
from hub.app.runtime import Components, open_components
from hub.core.clock import FixedClock
from hub.queries.template_admin import template_versions
from hub.rendering.sms_text import measure_sms
from hub.store.models import AuditLog
from hub.tickets.staff_passwords import set_password
from tests.ticket_support import seed_ticket_world
from tests.web.admin.admin_support import PASSWORD, admin_client, csrf_of, sign_in
from tests.web.admin.simulator_support import settle

EDITOR = "/admin/templates/notice/sandbox"


@dataclass
class Served:
    hub: Components
    app: FastAPI
    contact_id: int


@contextlib.asynccontextmanager
async def _serve(
    write_config: Callable[..., Path], clock: FixedClock, **config: Any
) -> AsyncIterator[Served]:
    settings = load_settings(write_config(tickets={"default_department": "FGW"}, **config))
    async with open_components(settings, clock=clock) as hub:
        world = await seed_ticket_world(hub.db)
        for username in ("admin", "dispatcher", "gxj_a"):
            await set_password(hub.db, clock, username, PASSWORD, actor="test", min_length=8)
        try:
            yield Served(hub, web_app(settings, hub, None), world.contacts["甲机械"])
        finally:
            doomed = [k async for k in hub.redis.scan_iter(match=hub.keys.pattern(), count=1000)]
            if doomed:
                await hub.redis.unlink(*doomed)


@pytest.fixture
async def served(write_config: Callable[..., Path], clock: FixedClock) -> AsyncIterator[Served]:
    async with _serve(write_config, clock) as served:
        yield served


async def _versions(served: Served, kind: str = "notice", channel: str = "sandbox") -> list[str]:
    _current, rows = await template_versions(served.hub.db, kind, channel)
    return [row.body for row in rows]


async def test_edit_preview_save_diff_and_roll_back(served: Served) -> None:
    original = (await _versions(served))[0]
    edited = original.replace("{{ text }}", "{{ text }}（请及时办理）")
    async with admin_client(served.app) as client:
        await sign_in(client, "admin")
        listing = await client.get("/admin/templates")
        assert listing.status_code == 200
        assert f'href="{EDITOR}"' in listing.text
        assert "· 系统</span>" in listing.text  # loaded from templates/ by the hub itself
        assert "· system<" not in listing.text
        page = await client.get(EDITOR, params={"q": "甲机械"})
        assert page.status_code == 200
        token = csrf_of(page.text)
        form = {"csrf_token": token, "body": edited.replace("\n", "\r\n"),
                "contact_id": str(served.contact_id)}  # fmt: skip

        preview = await client.post(EDITOR, data={**form, "action": "preview"})
        assert preview.status_code == 200
        assert "检查通过" in preview.text
        assert "预览：甲机械" in preview.text
        assert "（请及时办理）" in preview.text
        assert await _versions(served) == [original]  # a preview stores nothing
        live = await client.post(EDITOR + "/preview", data=form)
        assert "（请及时办理）" in live.text
        assert "<html" not in live.text

        saved = await client.post(EDITOR, data={**form, "action": "save"})
        assert saved.status_code == 303, saved.text
        assert await _versions(served) == [edited, original]
        page = await client.get(EDITOR)
        assert "已保存为新版本 notice/sandbox v2" in page.text
        assert "第 2 版（当前）" in page.text

        diff = await client.get(EDITOR + "/diff", params={"a": 1, "b": 2})
        assert diff.status_code == 200
        assert '<span class="diff_add">（请及时办理）</span>' in html.unescape(diff.text)

        rolled = await client.post(EDITOR + "/rollback", data={"csrf_token": token, "version": 1})
        assert rolled.status_code == 303
        assert await _versions(served) == [original, edited, original]
        assert "已回滚到第 1 版（新版本 notice/sandbox v3）" in (await client.get(EDITOR)).text
    async with served.hub.db.read() as session:
        stmt = sa.select(AuditLog.action, AuditLog.target_id, AuditLog.actor).order_by(AuditLog.id)
        audit = (await session.execute(stmt)).all()
    assert [tuple(a) for a in audit if a[0].startswith("template.")] == [
        ("template.save", "notice/sandbox", "admin"),
        ("template.rollback", "notice/sandbox", "admin"),
    ]


async def test_an_undeclared_variable_is_refused_in_chinese_and_nothing_is_saved(
    served: Served,
) -> None:
    original = await _versions(served)
    async with admin_client(served.app) as client:
        await sign_in(client, "admin")
        token = csrf_of((await client.get(EDITOR)).text)
        body = "{{ text }} 截止 {{ deadline_day }}"
        refused = await client.post(EDITOR, data={"csrf_token": token, "action": "save",
                                                  "body": body})  # fmt: skip
        assert refused.status_code == 422
        assert "使用了未在 meta.yaml 声明的变量 deadline_day" in refused.text
        assert 'class="field-error"' in refused.text
        assert body in html.unescape(refused.text)  # edit kept
    assert await _versions(served) == original


async def test_sms_checks_count_the_signature_and_keep_the_approved_wording(served: Served) -> None:
    editor = "/admin/templates/credit_warning/sms"
    original = await _versions(served, "credit_warning", "sms")
    async with admin_client(served.app) as client:
        await sign_in(client, "admin")
        page = await client.get(editor)
        assert 'name="sms_expr_0"' in page.text
        assert 'name="sms_id_tencent"' in page.text
        token = csrf_of(page.text)
        changed = await client.post(editor, data={
            "csrf_token": token, "action": "save", "body": original[0] + "请留意。"})  # fmt: skip
        assert changed.status_code == 422
        assert "短信文字与已入库的 credit_warning 第 1 版不同" in changed.text
        long_param = await client.post(editor, data={
            "csrf_token": token, "action": "preview", "sms_expr_1": "risk_item * 20"})  # fmt: skip
        assert "短信参数 item 的示例值" in long_param.text
    assert await _versions(served, "credit_warning", "sms") == original


async def test_sms_segments_are_counted_with_the_signature_of_the_configured_provider(
    write_config: Callable[..., Path], clock: FixedClock
) -> None:
    sign = "某某市发展和改革委员会企业服务中心"
    # No provider enabled: the signature channels.sms.provider names is assumed, and said so.
    sms = {"provider": "aliyun", "aliyun": {"sign_name": sign}}
    editor = "/admin/templates/credit_warning/sms"
    async with _serve(write_config, clock, channels={"sms": sms}) as served:
        original = (await _versions(served, "credit_warning", "sms"))[0]
        async with admin_client(served.app) as client:
            await sign_in(client, "admin")
            page = await client.get(editor)
            assert f"配置的签名【{sign}】计算" in page.text
            assert "channels.sms.provider（阿里云）" in page.text
            token = csrf_of(page.text)
            form = {"csrf_token": token, "contact_id": str(served.contact_id)}
            live = await client.post(editor + "/preview", data=form)
            text = re.search(r'<p class="phone-text">([^<]*)</p>', live.text)
            assert text is not None
            shown = html.unescape(text.group(1))
            assert shown.startswith(f"【{sign}】甲机械")
            size = measure_sms(shown.removeprefix(f"【{sign}】"), sign)
            assert f"连同签名共 {size.chars} 字，计 {size.segments} 条短信" in live.text
            # The inline check counts the same signature.
            long = await client.post(
                editor + "/preview", data={**form, "body": original + "请" * 150}
            )
            assert f"短信连同签名【{sign}】共" in long.text


async def test_csrf_is_required_and_a_dispatcher_reads_but_cannot_save(served: Served) -> None:
    original = await _versions(served)
    async with admin_client(served.app) as client:
        await sign_in(client, "admin")
        forged = await client.post(EDITOR, data={"action": "save", "body": "{{ text }}"})
        assert forged.status_code == 403
        assert "安全校验未通过" in forged.text
    async with admin_client(served.app) as client:
        await sign_in(client, "dispatcher")
        page = await client.get(EDITOR)
        assert page.status_code == 200
        assert "保存为新版本" not in page.text
        assert "回滚到此版" not in page.text
        token = csrf_of(page.text)
        preview = await client.post(EDITOR, data={"csrf_token": token, "action": "preview",
                                                  "body": "{{ text }}！"})  # fmt: skip
        assert preview.status_code == 200
        for path, form in (
            (EDITOR, {"action": "save", "body": "{{ text }}！"}),
            (EDITOR + "/rollback", {"version": "1"}),
            (EDITOR + "/test-send", {"contact_id": str(served.contact_id)}),
        ):
            refused = await client.post(path, data={"csrf_token": token, **form})
            assert refused.status_code == 403, path
    assert await _versions(served) == original


async def test_a_test_send_puts_the_unsaved_draft_on_the_contacts_sandbox_phone(
    served: Served,
) -> None:
    original = await _versions(served)
    draft = original[0].replace("{{ text }}", "{{ text }}（草稿试发）")
    async with admin_client(served.app) as client:
        await sign_in(client, "admin")
        page = await client.get(EDITOR, params={"q": "甲机械"})
        assert 'formaction="/admin/templates/notice/sandbox/test-send"' in page.text
        form = {"csrf_token": csrf_of(page.text), "contact_id": str(served.contact_id)}
        # A draft the check refuses is not sent either.
        refused = await client.post(EDITOR + "/test-send", data={
            **form, "body": "{{ text }} 截止 {{ deadline_day }}"})  # fmt: skip
        assert refused.status_code == 422
        assert "使用了未在 meta.yaml 声明的变量 deadline_day" in refused.text

        sent = await client.post(EDITOR + "/test-send", data={**form, "body": draft})
        assert sent.status_code == 200
        assert "已将编辑中的草稿（基于第 1 版，未保存）试发到沙箱" in sent.text
        assert draft in html.unescape(sent.text)  # the editor keeps the draft
        await settle(served.hub)
        phone = await client.get(f"/admin/simulator/{served.contact_id}/conversation")
        assert "【主动服务】甲机械：" in phone.text, phone.text
        assert "（草稿试发）" in phone.text
    assert await _versions(served) == original  # nothing saved
    hub = served.hub
    inbox = await SandboxChannel(hub.redis, hub.keys, hub.clock).inbox(served.contact_id)
    assert len(inbox) == 1
    async with hub.db.read() as session:
        entries = (await session.scalars(
            sa.select(AuditLog).where(AuditLog.action == "template.test_send"))).all()  # fmt: skip
    [entry] = entries
    assert (entry.actor, entry.target_id) == ("admin", "notice/sandbox")
    assert entry.detail["draft"] == "unsaved"
    assert entry.detail["based_on_version"] == 1
    assert entry.detail["body"] == draft
    assert entry.detail["contact_id"] == served.contact_id


async def test_a_wechat_field_over_20_characters_is_named(served: Served) -> None:
    editor = "/admin/templates/credit_warning/wechat"
    original = await _versions(served, "credit_warning", "wechat")
    async with admin_client(served.app) as client:
        await sign_in(client, "admin")
        token = csrf_of((await client.get(editor)).text)
        refused = await client.post(editor, data={
            "csrf_token": token, "action": "save",
            "wechat_thing2": "{{ risk_item }}{{ risk_item }}"})  # fmt: skip
        assert refused.status_code == 422
        assert "微信模板字段 thing2 的示例值" in refused.text
        assert "超过 20 字" in refused.text
    assert await _versions(served, "credit_warning", "wechat") == original


async def test_a_handler_has_no_access(served: Served) -> None:
    async with admin_client(served.app) as client:
        await sign_in(client, "gxj_a")
        assert (await client.get("/admin/templates")).status_code == 403
        assert (await client.get(EDITOR)).status_code == 403
