"""The database's templates are in force: seeded from the shipped files on first start, and an
admin's new version is used by the next trigger without a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from hub.app.config import Settings
from hub.app.runtime import PROJECT_ROOT, open_components
from hub.core.clock import FixedClock
from hub.core.vocab import MessageKind
from hub.outbound.audience import parse_audience
from hub.outbound.outbox import SendRequest
from hub.rendering.template_store import sync_templates
from hub.store.models import Message, Template, TemplateVersion
from tests.seed import seed_registry


def _notice(key: str) -> SendRequest:
    return SendRequest(
        kind=MessageKind.NOTICE,
        audience=parse_audience("tier=key"),
        trigger_key=key,
        variables={"text": "请于月底前完成年报公示"},
    )


async def test_shipped_templates_seed_the_database_and_an_edit_applies_without_restart(
    settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    async with open_components(settings, clock=clock) as hub:
        await seed_registry(hub.db)
        async with hub.db.read() as session:
            seeded = await session.scalar(sa.select(sa.func.count()).select_from(Template))
        assert seeded is not None
        assert seeded > 10

        first = await hub.outbox.submit(_notice("one"))
        # An admin edits the notice wording: a new version in the database.
        folder = tmp_path / "edited"
        shutil.copytree(PROJECT_ROOT / "templates", folder)
        (folder / "notice" / "default.j2").write_text(
            "【{{ hub_name }}】{{ enterprise.name }}，您好：{{ text }}", encoding="utf-8"
        )
        report = await sync_templates(hub.db, folder, clock, "admin", settings=settings)
        assert report.updated  # notice/sandbox (and its other channels) got version 2
        second = await hub.outbox.submit(_notice("two"))

        async with hub.db.read() as session:
            found = (
                await session.execute(
                    sa.select(Message, TemplateVersion)
                    .join(TemplateVersion, Message.template_version_id == TemplateVersion.id)
                    .order_by(Message.id)
                )
            ).all()
    # The app's outbox counts what it queued rather than listing it: each send's first
    # message, by its campaign.
    rows: dict[int | None, tuple[str, int]] = {}
    for m, v in found:
        rows.setdefault(m.campaign_id, (m.body, v.version))
    assert first.queued
    assert second.queued
    assert rows[first.campaign_id] == ("【主动服务】甲机械：请于月底前完成年报公示", 1)
    assert rows[second.campaign_id] == ("【主动服务】甲机械，您好：请于月底前完成年报公示", 2)


async def test_an_admins_edit_survives_a_restart(
    settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    async with open_components(settings, clock=clock) as hub:
        folder = tmp_path / "edited"
        shutil.copytree(PROJECT_ROOT / "templates", folder)
        (folder / "notice" / "default.j2").write_text(
            "【{{ hub_name }}】{{ enterprise.name }}，您好：{{ text }}", encoding="utf-8"
        )
        await sync_templates(hub.db, folder, clock, "admin", settings=settings)
    async with open_components(settings, clock=clock) as hub:
        await seed_registry(hub.db)
        [planned] = await hub.outbox.plan(_notice("x"))
    assert planned.body == "【主动服务】甲机械，您好：请于月底前完成年报公示"
