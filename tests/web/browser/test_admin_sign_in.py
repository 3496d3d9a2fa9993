"""Signing in to ``/admin/`` in Chromium: the form leads home, five wrong passwords lock the
account, a form without its CSRF token is refused, signing out ends the session."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from hub.tickets.staff import StaffRole
from tests.web.browser.conftest import (
    STAFF_PASSWORD,
    LiveHub,
    new_staff,
    screenshot,
    sign_in,
)

#: The sign-in page's address (with or without ``?next=``).
SIGN_IN_URL = re.compile(r"/admin/login(\?.*)?$")
#: The message of a refused CSRF check (hub.web.admin.auth.CSRF_REFUSED), in part.
CSRF_REFUSED = "安全校验未通过"


async def _submit_login(page: Page, username: str, password: str) -> None:
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_load_state()


async def test_signing_in_leads_from_the_sign_in_form_to_the_signed_in_home(page: Page) -> None:
    await page.goto("/admin/")

    await expect(page).to_have_url(SIGN_IN_URL)  # signed out: the form first
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await screenshot(page, "admin-login")
    await sign_in(page, "demo-admin")

    await expect(page.get_by_text("孟凡宇（管理员）")).to_be_visible()  # who, beside 退出
    await expect(page.get_by_role("button", name="退出")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    await screenshot(page, "admin-home")
    [cookie] = [c for c in await page.context.cookies() if c["name"] == "hub_admin"]
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/admin")


async def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
    page: Page, live_hub: LiveHub
) -> None:
    username = await new_staff(live_hub, StaffRole.VIEWER)
    await page.goto("/admin/login")
    for left in (4, 3, 2, 1):
        await _submit_login(page, username, "wrong-password")
        await expect(page.get_by_role("alert")).to_have_text(
            f"用户名或密码错误（再错 {left} 次账号将被锁定）"
        )
    await _submit_login(page, username, "wrong-password")  # the fifth
    await expect(page.get_by_role("alert")).to_contain_text("账号已锁定至 2026-11-23 10:15")

    await _submit_login(page, username, STAFF_PASSWORD)  # the sixth, right, is refused

    await expect(page.get_by_role("alert")).to_contain_text("密码错误次数过多，账号已锁定")
    await expect(page).to_have_url(SIGN_IN_URL)
    await screenshot(page, "admin-login-locked")
    assert [c for c in await page.context.cookies() if c["name"] == "hub_admin"] == []


async def test_a_forged_form_without_its_csrf_token_is_refused(page: Page) -> None:
    await sign_in(page, "demo-admin")

    # A form that looks like the sign-out button's, but without the session's token.
    async with page.expect_response("**/admin/logout") as answer:
        await page.evaluate("""() => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/admin/logout";
            document.body.append(form);
            form.submit();
        }""")

    assert (await answer.value).status == 403
    await expect(page.get_by_text(CSRF_REFUSED)).to_be_visible()
    await screenshot(page, "admin-csrf-refused")
    await page.goto("/admin/")  # the sign-out did not happen
    await expect(page.get_by_text("孟凡宇（管理员）")).to_be_visible()


async def test_signing_out_ends_the_session_and_its_cookie(page: Page) -> None:
    await sign_in(page, "demo-dispatcher")
    [session] = [c for c in await page.context.cookies() if c["name"] == "hub_admin"]

    await page.get_by_role("button", name="退出").click()

    await expect(page.get_by_text("您已安全退出")).to_be_visible()
    await page.context.add_cookies([session])  # a copy of the old cookie signs in no more
    await page.goto("/admin/")
    await expect(page).to_have_url(SIGN_IN_URL)
