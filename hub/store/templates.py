"""Template versions in the database: the rows, written and read back (plain persistence).

The database holds what is in force: one ``Template`` row per (kind, channel) — ``default.j2``
is stored once per channel it serves, because a channel is what an admin edits — and immutable
``TemplateVersion`` rows (body + that channel's meta). :func:`write_template_versions` stores
drafts (a new version only when body or meta changed), :func:`current_template_versions` and
:func:`sms_template_versions` read the versions back, :func:`template_keys` lists the (kind,
channel) pairs stored and :func:`catalog_stamp` changes with every new current version.

What a template means — its spec, the check, the files it is seeded from — is the rendering
layer's (:mod:`hub.rendering.template_store`); this module knows rows only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from hub.core.clock import Clock
from hub.core.vocab import ChannelName, MessageKind
from hub.store.audit import AuditNote
from hub.store.db import Database
from hub.store.messaging import Template, TemplateVersion


@dataclass(frozen=True, slots=True)
class TemplateDraft:
    """A template's text and meta as it should be stored for (kind, channel)."""

    kind: str
    channel: str
    body: str
    meta: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredTemplateVersion:
    """One stored version of a (kind, channel) template."""

    kind: str
    channel: str
    version: int
    version_id: int
    body: str
    meta: Mapping[str, Any]


@dataclass(slots=True)
class VersionWrites:
    """What :func:`write_template_versions` stored: ``kind/channel vN`` labels, and a count of
    drafts left as they were."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0


def _canonical(meta: Mapping[str, Any]) -> str:
    return json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str)


def _current_version_join() -> sa.ColumnElement[bool]:
    return sa.and_(
        TemplateVersion.template_id == Template.id,
        TemplateVersion.version == Template.current_version,
    )


async def sms_template_versions(db: Database) -> list[StoredTemplateVersion]:
    """Every version ever stored of an SMS template, oldest version number first."""
    stmt = (
        sa.select(Template.kind, Template.channel, TemplateVersion)
        .join(TemplateVersion, TemplateVersion.template_id == Template.id)
        .where(Template.channel == ChannelName.SMS)
        .order_by(TemplateVersion.version)
    )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return [_stored(kind, channel, version) for kind, channel, version in rows]


async def current_template_versions(db: Database) -> list[StoredTemplateVersion]:
    """The current version of every stored template."""
    stmt = sa.select(Template.kind, Template.channel, TemplateVersion).join(
        TemplateVersion, _current_version_join()
    )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return [_stored(kind, channel, version) for kind, channel, version in rows]


def _stored(
    kind: MessageKind, channel: ChannelName, version: TemplateVersion
) -> StoredTemplateVersion:
    return StoredTemplateVersion(
        kind.value, channel.value, version.version, version.id, version.body, version.meta or {}
    )


async def template_keys(db: Database) -> set[tuple[str, str]]:
    """The (kind, channel) pairs the database has a template for."""
    async with db.read() as session:
        return {
            (kind.value, channel.value)
            for kind, channel in await session.execute(sa.select(Template.kind, Template.channel))
        }


async def write_template_versions(
    db: Database, drafts: Iterable[TemplateDraft], clock: Clock, actor: str, *, only_new: bool,
    audit: AuditNote | None = None,
) -> VersionWrites:  # fmt: skip
    """Store the drafts in one transaction; idempotent.

    A (kind, channel) new to the database gets version 1; an existing one gets a new version
    only when its body or meta differs from the current version (``only_new`` leaves existing
    ones alone — what a start-up seeding wants, so admins' edits survive). ``audit`` is
    written, with the version's number, in the same transaction for each version stored.
    """
    written = VersionWrites()
    now = clock.now()
    async with db.write() as session:
        rows = {
            (t.kind.value, t.channel.value): t for t in await session.scalars(sa.select(Template))
        }
        current = {
            v.template_id: v
            for v in await session.scalars(
                sa.select(TemplateVersion).join(Template, _current_version_join())
            )
        }
        for draft in drafts:
            # JSON-clean, in the draft's order (the comparison below ignores key order).
            meta = json.loads(json.dumps(draft.meta, ensure_ascii=False, default=str))
            row = rows.get((draft.kind, draft.channel))
            if row is None:
                row = Template(
                    kind=MessageKind(draft.kind),
                    channel=ChannelName(draft.channel),
                    current_version=1,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                await session.flush()
                version = 1
                written.created.append(f"{draft.kind}/{draft.channel} v1")
            else:
                latest = current.get(row.id)
                same = (
                    latest is not None
                    and latest.body == draft.body
                    and _canonical(latest.meta or {}) == _canonical(meta)
                )
                if only_new or same:
                    written.unchanged += 1
                    continue
                top = await session.scalar(
                    sa.select(sa.func.max(TemplateVersion.version)).where(
                        TemplateVersion.template_id == row.id
                    )
                )
                version = int(top or 0) + 1
                row.current_version = version
                row.updated_at = now
                written.updated.append(f"{draft.kind}/{draft.channel} v{version}")
            session.add(
                TemplateVersion(
                    template_id=row.id,
                    version=version,
                    body=draft.body,
                    meta=meta,
                    created_at=now,
                    created_by=actor,
                )
            )
            if audit is not None:
                audit.add(session, now, version=version)
    return written


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
