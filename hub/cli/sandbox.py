"""``hub sandbox inbox|reply`` and ``hub replies list``: the sandbox channel from both sides."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import typer

from channels.sandbox import SandboxChannel
from hub.app.runtime import open_components, open_database
from hub.cli.common import clock_from, out, print_json, print_table, run_async, settings_from
from hub.core.clock import local_iso
from hub.core.errors import NotFoundError, UsageError
from hub.core.identifiers import mask_mobile, normalize_mobile
from hub.core.vocab import ChannelName
from hub.inbound.sandbox_reply import accept_sandbox_reply
from hub.queries.replies import ReplyFilter, list_replies
from hub.queries.scope import Visibility
from hub.store.models import Contact

EVERYTHING = Visibility.everything()


def register(app: typer.Typer) -> None:
    sandbox_app = typer.Typer(help="沙箱渠道 (sandbox): 收件箱与模拟回复", no_args_is_help=True)
    replies_app = typer.Typer(help="回复 (inbound replies)", no_args_is_help=True)
    app.add_typer(sandbox_app, name="sandbox")
    app.add_typer(replies_app, name="replies")
    sandbox_app.command("inbox")(inbox)
    sandbox_app.command("reply")(reply)
    replies_app.command("list")(replies_list)


def _mobile(text: str) -> str:
    try:
        return normalize_mobile(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _local(at: object, tz: ZoneInfo) -> object:
    """The channel stamps deliveries in UTC; the CLI prints every time in the hub's zone."""
    try:
        return local_iso(datetime.fromisoformat(str(at)), tz)
    except ValueError:
        return at


def inbox(
    ctx: typer.Context,
    mobile: str = typer.Argument(..., help="the contact's mobile"),
    limit: int = typer.Option(20, min=1, max=200),
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """沙箱收件箱：某个联系人（按手机号）收到的消息，最新在前。"""
    settings = settings_from(ctx)
    number = _mobile(mobile)

    async def load() -> list[dict[str, object]]:
        async with open_components(settings) as hub:
            async with hub.db.read() as session:
                ids = (await session.scalars(
                    sa.select(Contact.id).where(Contact.mobile == number))).all()  # fmt: skip
            if not ids:
                raise NotFoundError(f"没有手机号为 {mask_mobile(number)} 的联系人")
            channel = hub.channels.get(ChannelName.SANDBOX.value)
            assert isinstance(channel, SandboxChannel)
            items: list[dict[str, object]] = []
            for contact_id in ids:
                items.extend(await channel.inbox(contact_id, limit))
            newest = sorted(items, key=lambda i: str(i["at"]), reverse=True)[:limit]
            return [{**i, "at": _local(i["at"], settings.hub.tz)} for i in newest]

    items = run_async(load())
    if as_json:
        print_json(items)
        return
    for item in items:
        out.print(f"[{item['at']}] #{item['message_id']} {item['kind']}: {item['body']}",
                  markup=False)  # fmt: skip
    if not items:
        out.print("收件箱为空 (empty)")


def reply(
    ctx: typer.Context,
    mobile: str = typer.Argument(..., help="the replying contact's mobile"),
    text: str = typer.Argument(..., help="the reply text, e.g. 5, TD, or a request"),
    as_json: bool = typer.Option(False, "--json", help="print the stored reply as JSON"),
) -> None:
    """模拟联系人回复：与服务商 webhook 相同的入站路径（存储、去重、入队）。"""
    settings = settings_from(ctx)
    number = _mobile(mobile)

    async def act() -> dict[str, object]:
        async with open_components(settings, clock=clock_from(ctx)) as hub:
            accepted = await accept_sandbox_reply(hub.db, hub.queue, hub.clock, number, text)
        return {"reply_id": accepted.reply_id, "contact_id": accepted.contact_id}

    result = run_async(act())
    if as_json:
        print_json(result)
    elif result["contact_id"] is None:
        out.print(f"回复 #{result['reply_id']} 已收到，但没有找到该手机号的联系人")
    else:
        out.print(f"回复 #{result['reply_id']} 已收到并排队处理")


def replies_list(
    ctx: typer.Context,
    limit: int = typer.Option(50, min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """列出收到的回复（最新在前）。"""
    settings = settings_from(ctx)

    async def load() -> list[dict[str, object]]:
        async with open_database(settings) as db:
            rows = await list_replies(db, ReplyFilter(limit=limit), EVERYTHING)
        return [
            {"id": r.reply.id, "channel": r.reply.channel.value, "provider": r.reply.provider,
             "sender": EVERYTHING.address(r.reply.channel, r.reply.sender),
             "enterprise": r.enterprise.name if r.enterprise else None,
             "in_reply_to": r.reply.in_reply_to, "text": r.reply.text,
             "classification": r.reply.classification.value if r.reply.classification else None,
             "received_at": local_iso(r.reply.received_at, settings.hub.tz)}
            for r in rows
        ]  # fmt: skip

    items = run_async(load())
    if as_json:
        print_json(items)
        return
    print_table("回复 replies", ["id", "渠道", "发送人", "企业", "回复消息", "内容", "收到时间"],
                [(i["id"], i["channel"], i["sender"], i["enterprise"], i["in_reply_to"],
                  i["text"], i["received_at"]) for i in items])  # fmt: skip
