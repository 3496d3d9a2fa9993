"""The template editor in Chromium: open a template from the list, edit it (a draft the check
refuses is not test-sent), see the live preview for a demo enterprise, check and preview, save,
see the new version, compare, roll back.

The hub is shared by the package's tests: the edit is made to the notice's Telegram template
(no other browser test sends on Telegram) and rolled back at the end, so its wording in force
is the shipped one again.
"""

from __future__ import annotations

from playwright.async_api import Page, expect

from hub.queries.template_admin import template_versions
from tests.web.browser.conftest import LiveHub, screenshot, sign_in

EDITOR = "/admin/templates/notice/telegram"
ADDED = "（浏览器测试：请及时办理）"


async def test_edit_preview_save_and_roll_back_a_template(page: Page, live_hub: LiveHub) -> None:
    current, before = await template_versions(live_hub.hub.db, "notice", "telegram")
    await sign_in(page, "demo-admin")
    await page.goto("/admin/templates")
    await screenshot(page, "admin-templates")
    await page.locator(f'a[href="{EDITOR}"]').click()
    await expect(page.locator("h1")).to_contain_text(f"当前第 {current} 版")

    form = page.locator("#template-form")
    await form.get_by_label("预览企业（联系人）").select_option(index=1)
    body = form.get_by_label("正文")
    # 试发草稿 (outside the form, form="template-form") posts the editor's draft to the test
    # send, checked as a save is: an undeclared variable is refused there and nothing is sent.
    await body.fill("{{ text }} 截止 {{ deadline_day }}")
    await page.get_by_role("button", name="试发草稿").click()
    await expect(page.locator(".field-error").first).to_contain_text("deadline_day")
    await expect(body).to_have_value("{{ text }} 截止 {{ deadline_day }}")
    await body.fill(before[0].body.replace("{{ text }}", "{{ text }}" + ADDED))
    # The live preview (htmx) renders the edit for the chosen enterprise as it is typed.
    await expect(page.locator("#preview")).to_contain_text(ADDED)
    await expect(page.locator("#preview")).to_contain_text("检查通过")

    await form.get_by_role("button", name="检查并预览").click()
    await expect(page.locator("#preview .preview")).to_contain_text(ADDED)
    await screenshot(page, "admin-template-editor-preview")
    await form.get_by_role("button", name="保存为新版本").click()
    saved = current + 1
    await expect(page.get_by_role("status")).to_have_text(
        f"已保存为新版本 notice/telegram v{saved}"
    )
    await expect(page.locator("table.versions")).to_contain_text(f"第 {saved} 版（当前）")

    await page.get_by_role("button", name="比较差异").click()
    await expect(page.locator(".diff .diff_add")).to_contain_text(ADDED)
    await screenshot(page, "admin-template-diff")

    row = page.locator("table.versions tr", has_text=f"第 {current} 版")
    await row.get_by_role("button", name="回滚到此版").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"已回滚到第 {current} 版（新版本 notice/telegram v{saved + 1}）"
    )
    await expect(page.locator("table.versions")).to_contain_text(f"第 {saved + 1} 版（当前）")
    await screenshot(page, "admin-template-rolled-back")
    now, after = await template_versions(live_hub.hub.db, "notice", "telegram")
    assert now == saved + 1
    assert after[0].body == before[0].body
