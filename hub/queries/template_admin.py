"""What the admin's template pages read: the stored templates, one template's versions, and the
contact (with its enterprise and officer) a preview or test send is made for.

Writes go through :mod:`hub.rendering.template_store` / :mod:`hub.store.templates`, as
``hub templates sync`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from hub.core.vocab import ChannelName, MessageKind
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.store.messaging import Template, TemplateVersion
from hub.store.models import Contact, Enterprise, Officer


@dataclass(frozen=True, slots=True)
class TemplateLine:
    """A stored (kind, channel) template and its current version."""

    kind: str
    channel: str
    current_version: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One stored version of a template, with who wrote it and when."""

    version: int
    version_id: int
    body: str
    meta: Mapping[str, Any]
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class PreviewTarget:
    """A contact as a preview renders for it: its enterprise and the enterprise's officer."""

    contact: Contact
    enterprise: Enterprise
    officer: Officer | None


async def template_lines(db: Database) -> list[TemplateLine]:
    """Every stored template with its current version, by kind then channel."""
    stmt = (
        sa.select(Template.kind, Template.channel, Template.current_version,
                  TemplateVersion.created_at, TemplateVersion.created_by)
        .join(TemplateVersion, sa.and_(TemplateVersion.template_id == Template.id,
                                       TemplateVersion.version == Template.current_version))
        .order_by(Template.kind, Template.channel)
    )  # fmt: skip
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return [TemplateLine(k.value, c.value, v, at, by) for k, c, v, at, by in rows]


async def template_versions(db: Database, kind: str, channel: str) -> tuple[int, list[VersionRow]]:
    """The template's current version number and all its versions, newest first ((0, []) when
    the database has no such template)."""
    async with db.read() as session:
        template = await session.scalar(
            sa.select(Template).where(
                Template.kind == MessageKind(kind), Template.channel == ChannelName(channel)
            )
        )
        if template is None:
            return 0, []
        versions = await session.scalars(
            sa.select(TemplateVersion)
            .where(TemplateVersion.template_id == template.id)
            .order_by(TemplateVersion.version.desc())
        )
        rows = [VersionRow(v.version, v.id, v.body, v.meta or {}, v.created_at, v.created_by)
                for v in versions]  # fmt: skip
        return template.current_version, rows


async def preview_target(
    db: Database, contact_id: int, visibility: Visibility
) -> PreviewTarget | None:
    """The contact (opt-outs loaded, as routing reads them), if the reader may see its
    enterprise."""
    stmt = (
        sa.select(Contact)
        .where(Contact.id == contact_id, Contact.anonymised_at.is_(None))
        .options(selectinload(Contact.opt_outs))
    )
    clause = visibility.enterprise_filter(Contact.enterprise_id)
    if clause is not None:
        stmt = stmt.where(clause)
    async with db.read() as session:
        contact = await session.scalar(stmt)
        if contact is None:
            return None
        enterprise = await session.scalar(
            sa.select(Enterprise)
            .where(Enterprise.id == contact.enterprise_id)
            .options(selectinload(Enterprise.tags))
        )
        if enterprise is None:
            return None
        officer_id = enterprise.officer_id
        officer = await session.get(Officer, officer_id) if officer_id is not None else None
        return PreviewTarget(contact, enterprise, officer)
