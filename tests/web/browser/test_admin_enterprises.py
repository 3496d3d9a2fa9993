"""The enterprise pages (一企一档) in Chromium: search by the filter form, open a dossier with
every section, a bad expression shown in Chinese, a registry upload run to the end with its
rejects offered; screenshots of each."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Page, expect

from tests.importing.factories import csv_text, make_uscc
from tests.web.browser.conftest import ENTERPRISES, screenshot, sign_in

SECTIONS = ("基本信息", "联系人和渠道", "消息", "企业回复", "诉求工单", "信用记录", "政策推送",
            "证照", "年报", "走访")  # fmt: skip


async def test_search_by_the_form_and_open_a_dossier(page: Page) -> None:
    await sign_in(page, "demo-admin")
    await page.goto("/admin/enterprises")
    await expect(page.locator("#total")).to_have_text(str(ENTERPRISES))
    await page.get_by_label("重点").check()
    await page.get_by_role("button", name="查询").click()
    await expect(page.get_by_text("受众表达式：")).to_contain_text("tier=key")
    total = int(await page.locator("#total").inner_text())
    assert 0 < total < ENTERPRISES
    await expect(page.locator("table.grid tbody tr")).to_have_count(total)
    await screenshot(page, "admin-enterprises")

    first = page.locator("table.grid tbody a").first
    name = await first.inner_text()
    await first.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    for section in SECTIONS:
        await expect(page.get_by_role("heading", level=2, name=re.compile(section))).to_be_visible()
    await expect(page.locator("#basics")).to_contain_text("重点")
    await screenshot(page, "admin-enterprise-dossier")


async def test_a_bad_expression_reads_in_chinese_on_the_page(page: Page) -> None:
    await sign_in(page, "demo-handler")
    await page.goto("/admin/enterprises")
    await page.get_by_label("受众表达式").fill("tier=vip")
    await page.get_by_role("button", name="查询").click()
    await expect(page.get_by_role("alert")).to_contain_text("受众表达式中的条件“tier=vip”无效")
    await screenshot(page, "admin-enterprises-bad-expression")


async def test_an_upload_runs_to_the_end_and_offers_its_rejects(page: Page, tmp_path: Path) -> None:
    registry = tmp_path / "新企业名录.csv"
    registry.write_bytes(csv_text([
        ["统一社会信用代码", "企业名称", "联络类别", "行业", "区域", "联系人", "手机"],
        [make_uscc(7001, prefix="91230200"), "浏览器测试机械有限公司", "重点", "制造业", "龙沙区",
         "王伟", "13800138000"],
        [make_uscc(7002, prefix="91230200"), "浏览器测试商贸有限公司", "一般", "批发和零售业",
         "建华区", "张敏", "1380"],
    ]).encode("utf-8-sig"))  # fmt: skip
    await sign_in(page, "demo-dispatcher")
    await page.goto("/admin/enterprises")
    await page.get_by_role("link", name="导入企业名录").click()
    await page.get_by_label("名录文件").set_input_files(registry)
    await page.get_by_role("button", name="上传并导入").click()
    await expect(page.locator("#phase")).to_have_text("导入完成")
    await expect(page.locator("#counts")).to_contain_text("新建企业")
    download_link = page.get_by_role("link", name=re.compile("下载被拒绝的行"))
    await expect(download_link).to_contain_text("1 行")
    await screenshot(page, "admin-enterprises-import")
    async with page.expect_download() as download_info:
        await download_link.click()
    download = await download_info.value
    assert download.suggested_filename == "新企业名录.rejects.csv"
    rejects = Path(await download.path()).read_text(encoding="utf-8-sig")  # noqa: ASYNC240
    assert "手机“1380”" in rejects
    await page.goto("/admin/enterprises?name=浏览器测试")
    await expect(page.locator("#total")).to_have_text("1")
