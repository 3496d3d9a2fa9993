"""``hub staff add|token|revoke|list|absent|set-password|set-officer``: staff accounts, their API
tokens, their web admin passwords and the liaison officer an officer's account stands for."""

from __future__ import annotations

import sys

import typer

from hub.cli.common import err, out, print_json, print_table, settings_from, with_database
from hub.core.clock import SystemClock
from hub.core.errors import UsageError
from hub.tickets.staff import (
    NewStaff,
    StaffRole,
    StaffView,
    add_staff,
    issue_token,
    list_staff,
    revoke_token,
    set_absent,
    set_officer,
)
from hub.tickets.staff_passwords import set_password

ACTOR = "cli"


def register(app: typer.Typer) -> None:
    staff_app = typer.Typer(help="工作人员与 API 令牌 (staff)", no_args_is_help=True)
    app.add_typer(staff_app, name="staff")
    staff_app.command("add")(add)
    staff_app.command("token")(token)
    staff_app.command("revoke")(revoke)
    staff_app.command("list")(staff_list)
    staff_app.command("absent")(absent)
    staff_app.command("set-password")(set_password_command)
    staff_app.command("set-officer")(set_officer_command)


def add(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="login name, e.g. zhangsan"),
    name: str = typer.Option(..., "--name", help="姓名"),
    role: str = typer.Option(
        ..., "--role", help="admin, dispatcher, handler, head, officer, viewer"
    ),
    department: str | None = typer.Option(None, "--department", help="部门编码"),
    district: str | None = typer.Option(None, "--district", help="区域，与企业的区域一致"),
    mobile: str | None = typer.Option(None, "--mobile", help="手机（提醒用）"),
    wecom_userid: str | None = typer.Option(None, "--wecom-userid", help="企业微信账号"),
    officer: str | None = typer.Option(
        None, "--officer", help="联络员编码（角色 officer 必填，只能看到该联络员的企业）"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the account as JSON"),
) -> None:
    """新增工作人员（不含令牌：再用 hub staff token 签发）。"""
    try:
        staff_role = StaffRole.parse(role)
    except ValueError:
        raise UsageError(f"未知的角色“{role}”（可选：{StaffRole.choices()}）") from None
    assert isinstance(staff_role, StaffRole)
    new = NewStaff(username, name, staff_role, department, district, mobile, wecom_userid, officer)
    view = with_database(ctx, lambda db: add_staff(db, SystemClock(), new, actor=ACTOR))
    if as_json:
        print_json(view.as_dict())
        return
    out.print(f"已新增工作人员 {view.username}（{view.name}，{staff_role.label}）")
    err.print(f"签发 API 令牌：hub staff token {view.username}")


def token(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="the staff member's username"),
) -> None:
    """签发新的 API 令牌并只显示这一次；该账号原有的令牌立即失效。"""
    issued = with_database(ctx, lambda db: issue_token(db, SystemClock(), username, actor=ACTOR))
    # The token alone on stdout, so `TOKEN=$(hub staff token NAME)` captures it.
    print(issued)
    err.print(f"{username} 的新令牌只显示这一次，请妥善保存；原有令牌已失效。")


def revoke(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="the staff member's username"),
) -> None:
    """撤销工作人员的 API 令牌。"""
    had = with_database(ctx, lambda db: revoke_token(db, SystemClock(), username, actor=ACTOR))
    out.print(f"已撤销 {username} 的令牌" if had else f"{username} 没有有效的令牌")


def staff_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """列出工作人员（令牌只显示是否已签发）。"""
    views: list[StaffView] = with_database(ctx, list_staff)
    items = [v.as_dict() for v in views]
    if as_json:
        print_json(items)
        return
    print_table(
        "工作人员 staff",
        ["用户名", "姓名", "角色", "部门", "区域", "联络员", "令牌", "请假"],
        [
            (i["username"], i["name"], i["role_label"], i["department"], i["district"],
             i["officer"], "有" if i["has_token"] else "无", "是" if i["absent"] else "")
            for i in items
        ],
    )  # fmt: skip


def absent(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="the staff member's username"),
    back: bool = typer.Option(False, "--back", help="back at work: takes tickets again"),
) -> None:
    """标记请假（轮流分派时跳过）或用 --back 标记回岗。"""
    changed = with_database(
        ctx, lambda db: set_absent(db, SystemClock(), username, not back, actor=ACTOR)
    )
    state = "已回岗，恢复轮流分派" if back else "已标记请假，轮流分派时跳过"
    out.print(
        f"{username} {state}" if changed else f"{username} 状态未变（{state.split('，')[0]}）"
    )


def set_password_command(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="the staff member's username"),
) -> None:
    """设置工作人员登录管理后台的密码（同时解除锁定）。密码从提示输入或标准输入读取，从不作为参数。"""
    min_length = settings_from(ctx).web.admin.min_password_length
    if sys.stdin.isatty():
        password = typer.prompt("新密码", hide_input=True, confirmation_prompt="再次输入新密码")
    else:
        # A pipe: `printf '%s\n' "$PASSWORD" | hub staff set-password NAME` (one line).
        password = sys.stdin.readline().rstrip("\r\n")
    with_database(
        ctx,
        lambda db: set_password(
            db, SystemClock(), username, password, actor=ACTOR, min_length=min_length
        ),
    )
    out.print(f"已设置 {username} 的管理后台密码（原有的锁定已解除）")


def set_officer_command(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="the officer account's username"),
    officer: str = typer.Option(..., "--officer", help="联络员编码，如 LL001"),
) -> None:
    """为联络员账号关联联络员（此后只能看到该联络员的企业、工单与走访）。"""
    view = with_database(
        ctx, lambda db: set_officer(db, SystemClock(), username, officer, actor=ACTOR)
    )
    out.print(f"已将 {view.username} 关联到联络员 {view.officer_label}")
