"""Template versions in the database: import the files, read the versions in force.

The database holds what is in force: one ``Template`` row per (kind, channel) — ``default.j2``
is stored once per channel it serves, because a channel is what an admin edits — and immutable
``TemplateVersion`` rows (body + that channel's meta). :func:`sync_templates` imports the files
(a new version only when body or meta changed, and only templates that pass
:mod:`hub.rendering.check`), :func:`load_catalog` reads the current versions for a
:class:`~hub.rendering.render.TemplateRenderer`, :func:`stored_sms_texts` gives the check the
approved SMS texts already stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog

from hub.config import Settings
from hub.core.clock import Clock
from hub.core.vocab import ChannelName, MessageKind
from hub.rendering.check import DEFAULT_MAX_SMS_SEGMENTS, StoredSms, check_folder
from hub.rendering.template_spec import Catalog, TemplateSpec
from hub.rendering.templates import Problem, load_folder
from hub.store.db import Database
from hub.store.messaging import Template, TemplateVersion

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class SyncReport:
    """What :func:`sync_templates` did; ``rejected`` templates were left as they were."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [p.as_dict() for p in self.rejected],
        }


def _canonical(meta: Mapping[str, Any]) -> str:
    return json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str)


async def stored_sms_texts(db: Database) -> dict[tuple[str, str], StoredSms]:
    """Every approved SMS text ever stored, by (provider, template id), in provider form."""
    stmt = (
        sa.select(
            Template.kind, TemplateVersion.body, TemplateVersion.meta, TemplateVersion.version
        )
        .join(TemplateVersion, TemplateVersion.template_id == Template.id)
        .where(Template.channel == ChannelName.SMS)
        .order_by(TemplateVersion.version)
    )
    found: dict[tuple[str, str], StoredSms] = {}
    async with db.read() as session:
        for kind, body, meta, version in (await session.execute(stmt)).all():
            spec = TemplateSpec.from_json(kind.value, "sms", body, meta or {})
            if spec.sms is None:
                continue
            for provider, template_id in spec.sms.template_ids.items():
                text = spec.sms.tencent_text(body) if provider == "tencent" else body
                found.setdefault((provider, template_id), StoredSms(text, kind.value, version))
    return found


async def sync_templates(
    db: Database,
    folder: Path,
    clock: Clock,
    actor: str,
    *,
    settings: Settings | None = None,
    only_new: bool = False,
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
) -> SyncReport:
    """Import the files as template versions; idempotent.

    A (kind, channel) new to the database gets version 1; an existing one gets a new version
    only when its body or meta differs from the current version (``only_new`` leaves existing
    ones alone — what a start-up seeding wants, so admins' edits survive). Templates the check
    finds wrong are not imported and are listed in ``rejected``.
    """
    stored = await stored_sms_texts(db)
    loaded, problems = check_folder(folder, settings, stored, max_sms_segments)
    report = SyncReport(rejected=list(dict.fromkeys(problems)))
    bad = {(p.kind, p.channel) for p in problems}
    now = clock.now()
    async with db.write() as session:
        rows = {
            (t.kind.value, t.channel.value): t for t in await session.scalars(sa.select(Template))
        }
        current = {
            v.template_id: v
            for v in await session.scalars(
                sa.select(TemplateVersion).join(
                    Template,
                    sa.and_(
                        TemplateVersion.template_id == Template.id,
                        TemplateVersion.version == Template.current_version,
                    ),
                )
            )
        }
        for spec in loaded.catalog:
            key = (spec.kind, spec.channel)
            if key in bad or (spec.kind, None) in bad:
                continue
            # JSON-clean, in file order (the comparison below ignores key order).
            meta = json.loads(json.dumps(spec.meta_json(), ensure_ascii=False, default=str))
            row = rows.get(key)
            if row is None:
                row = Template(
                    kind=MessageKind(spec.kind),
                    channel=ChannelName(spec.channel),
                    current_version=1,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                await session.flush()
                version = 1
                report.created.append(f"{spec.kind}/{spec.channel} v1")
            else:
                latest = current.get(row.id)
                same = (
                    latest is not None
                    and latest.body == spec.body
                    and _canonical(latest.meta or {}) == _canonical(meta)
                )
                if only_new or same:
                    report.unchanged += 1
                    continue
                top = await session.scalar(
                    sa.select(sa.func.max(TemplateVersion.version)).where(
                        TemplateVersion.template_id == row.id
                    )
                )
                version = int(top or 0) + 1
                row.current_version = version
                row.updated_at = now
                report.updated.append(f"{spec.kind}/{spec.channel} v{version}")
            session.add(
                TemplateVersion(
                    template_id=row.id,
                    version=version,
                    body=spec.body,
                    meta=meta,
                    created_at=now,
                    created_by=actor,
                )
            )
    return report


async def load_catalog(db: Database) -> Catalog:
    """The current version of every template in the database, ready for a TemplateRenderer."""
    stmt = sa.select(Template.kind, Template.channel, TemplateVersion).join(
        TemplateVersion,
        sa.and_(
            TemplateVersion.template_id == Template.id,
            TemplateVersion.version == Template.current_version,
        ),
    )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return Catalog(
        TemplateSpec.from_json(
            kind.value,
            channel.value,
            version.body,
            version.meta or {},
            version=version.version,
            version_id=version.id,
        )
        for kind, channel, version in rows
    )


async def seed_templates(db: Database, folder: Path, clock: Clock, settings: Settings) -> Catalog:
    """On start: import shipped templates the database does not have yet, then read what is in
    force. Admins' edits survive (``only_new``); the full check runs only when something is new.
    """
    async with db.read() as session:
        stored = {
            (kind.value, channel.value)
            for kind, channel in await session.execute(sa.select(Template.kind, Template.channel))
        }
    shipped = {(spec.kind, spec.channel) for spec in load_folder(folder).catalog}
    if not shipped <= stored:
        report = await sync_templates(db, folder, clock, "system", settings=settings,
                                      only_new=True)  # fmt: skip
        for problem in report.rejected:
            log.warning("template_not_imported", problem=problem.as_dict())
    return await load_catalog(db)


async def catalog_stamp(db: Database) -> tuple[int, int, Any]:
    """Changes whenever a template gets a new current version: (templates, versions, latest)."""
    async with db.read() as session:
        row = (
            await session.execute(
                sa.select(
                    sa.func.count(Template.id),
                    sa.func.coalesce(sa.func.sum(Template.current_version), 0),
                    sa.func.max(Template.updated_at),
                )
            )
        ).one()
    return int(row[0]), int(row[1]), row[2]
