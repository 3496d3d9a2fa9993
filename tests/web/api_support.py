"""What the ``/api/v1`` tests share: departments, staff with tokens, replies, and a client.

Departments come in through the real department import; staff and tokens through
``hub.tickets.staff``; replies are inserted as the inbound path stores them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from hub.core.clock import FixedClock
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.importing.service import import_file
from hub.store.db import Database
from hub.store.models import Contact, InboundReply, Message
from hub.tickets.staff import NewStaff, StaffRole, add_staff, issue_token
from hub.web.api import router
from tests.importing.factories import write_csv_file
from tests.seed import seed_registry

# tests/seed.py: 甲机械 制造业/龙沙区, 乙商贸 批发和零售业/建华区, 丙软件 信息…/龙沙区,
# 丁餐饮 住宿和餐饮业/铁锋区, 戊建筑 建筑业/龙沙区.
DEPARTMENTS = [
    ["code", "name", "role", "industries"],
    ["GXJ", "工业和信息化局", "department", "制造业;信息传输、软件和信息技术服务业"],
    ["SWJ", "商务局", "department", "批发和零售业;住宿和餐饮业"],
    ["YSB", "营商环境建设监督局", "business_office", ""],
]
# (username, role, department, district)
STAFF: tuple[tuple[str, StaffRole, str | None, str | None], ...] = (
    ("admin", StaffRole.ADMIN, None, None),
    ("dispatcher", StaffRole.DISPATCHER, None, None),
    ("ysb_dispatcher", StaffRole.DISPATCHER, "YSB", None),
    ("gxj_viewer", StaffRole.VIEWER, "GXJ", None),
    ("gxj_head", StaffRole.HEAD, "GXJ", None),
    ("swj_handler", StaffRole.HANDLER, "SWJ", None),
    ("longsha_viewer", StaffRole.VIEWER, None, "龙沙区"),
    ("gxj_jianhua_viewer", StaffRole.VIEWER, "GXJ", "建华区"),
)
OPENID = "oTestOpenId0123456789abcdef"


@dataclass(frozen=True)
class World:
    """The seeded registry: enterprise ids by name and an API token per username."""

    enterprises: dict[str, int]
    tokens: dict[str, str]

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


async def seed_world(db: Database, clock: FixedClock, tmp_path: Path) -> World:
    enterprises = await seed_registry(db)
    report = await import_file(
        db, "departments", write_csv_file(tmp_path / "departments.csv", DEPARTMENTS), clock
    )
    assert report.rejected == 0
    tokens = {}
    for username, role, department, district in STAFF:
        new = NewStaff(username, f"{username}姓名", role, department, district)
        await add_staff(db, clock, new, actor="test")
        tokens[username] = await issue_token(db, clock, username, actor="test")
    return World(enterprises, tokens)


async def contact_of(db: Database, mobile: str) -> Contact:
    async with db.read() as session:
        return (await session.scalars(sa.select(Contact).where(Contact.mobile == mobile))).one()


async def store_reply(
    db: Database,
    at: datetime,
    *,
    sender: str,
    text: str,
    channel: ChannelName = ChannelName.SMS,
    contact: Contact | None = None,
    key: str | None = None,
) -> int:
    """A reply as ``hub.inbound.accept.accept_reply`` stores it, linked to ``contact`` when
    given."""
    async with db.write() as session:
        row = InboundReply(
            channel=channel, provider=channel.value, provider_msg_id=key or f"{sender}-{at}",
            sender=sender, text=text, raw={"text": text}, received_at=at,
            contact_id=contact.id if contact else None,
            enterprise_id=contact.enterprise_id if contact else None,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


async def store_message(
    db: Database,
    at: datetime,
    contact: Contact,
    *,
    key: str,
    channel: ChannelName = ChannelName.SMS,
    address: str | None = None,
    status: MessageStatus = MessageStatus.SENT,
    campaign_id: int | None = None,
) -> int:
    """An outbox row as the dispatcher leaves it."""
    async with db.write() as session:
        row = Message(
            idempotency_key=key, kind=MessageKind.NOTICE, channel=channel,
            address=address or contact.mobile, status=status, body="请于本月底前完成年报公示",
            params={}, attempts=1 if status is not MessageStatus.QUEUED else 0,
            sent_at=at + timedelta(seconds=1) if status is MessageStatus.SENT else None,
            contact_id=contact.id, enterprise_id=contact.enterprise_id,
            campaign_id=campaign_id, created_at=at, updated_at=at,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


def api_app(db: Database, clock: FixedClock) -> FastAPI:
    app = FastAPI(openapi_url="/openapi.json")
    app.include_router(router(db, clock))
    return app


@contextlib.asynccontextmanager
async def api_client(db: Database, clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api_app(db, clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield client
