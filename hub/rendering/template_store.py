"""Templates in the database: import the files, read the versions in force.

:func:`sync_templates` imports the files (a new version only when body or meta changed, and only
templates that pass :mod:`hub.rendering.check`), :func:`seed_templates` imports at start-up what
the database lacks, :func:`load_catalog` reads the current versions for a
:class:`~hub.rendering.render.TemplateRenderer`, :func:`stored_sms_texts` gives the check the
approved SMS texts already stored. The rows themselves are :mod:`hub.store.templates`'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from hub.core.clock import Clock
from hub.rendering.check import DEFAULT_MAX_SMS_SEGMENTS, StoredSms, check_folder
from hub.rendering.settings import RenderingConfig
from hub.rendering.template_spec import Catalog, TemplateSpec
from hub.rendering.templates import Problem, load_folder
from hub.store.db import Database
from hub.store.seeding import seed_concurrently
from hub.store.templates import (
    TemplateDraft,
    current_template_versions,
    sms_template_versions,
    template_keys,
    write_template_versions,
)

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


async def stored_sms_texts(db: Database) -> dict[tuple[str, str], StoredSms]:
    """Every approved SMS text ever stored, by (provider, template id), in provider form."""
    found: dict[tuple[str, str], StoredSms] = {}
    for stored in await sms_template_versions(db):
        spec = TemplateSpec.from_json(stored.kind, "sms", stored.body, stored.meta)
        if spec.sms is None:
            continue
        for provider, template_id in spec.sms.template_ids.items():
            text = spec.sms.tencent_text(stored.body) if provider == "tencent" else stored.body
            found.setdefault((provider, template_id), StoredSms(text, stored.kind, stored.version))
    return found


async def sync_templates(
    db: Database,
    folder: Path,
    clock: Clock,
    actor: str,
    *,
    settings: RenderingConfig | None = None,
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
    bad = {(p.kind, p.channel) for p in problems}
    drafts = [
        TemplateDraft(spec.kind, spec.channel, spec.body, spec.meta_json())
        for spec in loaded.catalog
        if (spec.kind, spec.channel) not in bad and (spec.kind, None) not in bad
    ]
    written = await write_template_versions(db, drafts, clock, actor, only_new=only_new)
    return SyncReport(written.created, written.updated, written.unchanged,
                      list(dict.fromkeys(problems)))  # fmt: skip


async def load_catalog(db: Database) -> Catalog:
    """The current version of every template in the database, ready for a TemplateRenderer."""
    stored = await current_template_versions(db)
    return Catalog(
        TemplateSpec.from_json(v.kind, v.channel, v.body, v.meta, version=v.version,
                               version_id=v.version_id)
        for v in stored
    )  # fmt: skip


async def seed_templates(
    db: Database, folder: Path, clock: Clock, settings: RenderingConfig
) -> Catalog:
    """On start: import shipped templates the database does not have yet, then read what is in
    force. Admins' edits survive (``only_new``); the full check runs only when something is new.
    """
    stored = await template_keys(db)
    shipped = {(spec.kind, spec.channel) for spec in load_folder(folder).catalog}
    if not shipped <= stored:
        # Processes starting together on a fresh PostgreSQL database seed at the same moment.
        report = await seed_concurrently(lambda: sync_templates(
            db, folder, clock, "system", settings=settings, only_new=True
        ))  # fmt: skip
        for problem in report.rejected:
            log.warning("template_not_imported", problem=problem.as_dict())
    return await load_catalog(db)
