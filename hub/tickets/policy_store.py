"""Routing rules and deadline classes as admins edit them: versions in ``policy_version``.

config.yaml's ``tickets.rules`` / ``tickets.default_department`` and ``deadlines`` are the seed:
until an admin saves a version, they apply. The first save also stores the seed as version 1,
so the history shows what was in force before (docs/design.md: what admins edit while the hub runs
lives in the database, versioned). Versions are never changed or deleted; the highest is in
force, and every ticket operation reads it (:func:`hub.tickets.policy.load_ticket_policy`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.errors import UsageError
from hub.core.vocab import Urgency
from hub.store.models import PolicyVersion
from hub.tickets.deadlines.rules import DeadlineRule
from hub.tickets.settings import TicketRule, TicketsConfig

RULES = "ticket_rules"
CLASSES = "deadline_classes"
SEED_ACTOR = "config"


async def current(session: AsyncSession, kind: str) -> PolicyVersion | None:
    """The version in force of ``kind``, or None while config applies."""
    return await session.scalar(
        sa.select(PolicyVersion)
        .where(PolicyVersion.kind == kind)
        .order_by(PolicyVersion.version.desc())
        .limit(1)
    )


async def history(session: AsyncSession, kind: str) -> list[PolicyVersion]:
    rows = await session.scalars(
        sa.select(PolicyVersion).where(PolicyVersion.kind == kind).order_by(PolicyVersion.version)
    )
    return list(rows.all())


def rules_body(rules: Sequence[TicketRule], default_department: str | None) -> dict[str, Any]:
    return {
        "rules": [r.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
                  for r in rules],
        "default_department": default_department,
    }  # fmt: skip


def parse_rules(raw: Any) -> tuple[tuple[TicketRule, ...], str | None]:
    """``{"rules": [...], "default_department": ...}`` from a file or an API body, checked."""
    if not isinstance(raw, Mapping):
        raise UsageError("路由规则应为映射：rules: [...]、default_department: 部门编码")
    unknown = set(raw) - {"rules", "default_department"}
    if unknown:
        raise UsageError(f"未知的路由规则项：{'、'.join(sorted(unknown))}")
    items = raw.get("rules") or []
    if not isinstance(items, list):
        raise UsageError("rules 应为列表")
    rules = []
    for index, item in enumerate(items):
        try:
            rules.append(TicketRule.model_validate(item))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise UsageError(
                f"rules[{index}]{'.' + where if where else ''}: {problem['msg']}"
            ) from exc
    default = raw.get("default_department")
    if default is not None and (not isinstance(default, str) or not default.strip()):
        raise UsageError("default_department 应为部门编码或留空")
    return tuple(rules), default.strip() if isinstance(default, str) else None


def parse_classes(raw: Mapping[str, Any]) -> dict[str, int]:
    """Urgency class (name or Chinese label) → working days, checked; ``UsageError`` otherwise."""
    classes: dict[str, int] = {}
    for name, days in raw.items():
        try:
            urgency = Urgency.parse(str(name))
        except ValueError:
            raise UsageError(f"未知的办理时限类别“{name}”，可选：{Urgency.choices()}") from None
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise UsageError(
                f"{urgency.value}/{urgency.label} 的工作日数应为非负整数，收到 {days!r}"
            )
        classes[urgency.value] = days
    return classes


async def _save(
    session: AsyncSession, kind: str, body: dict[str, Any], seed: dict[str, Any], *,
    actor: str, now: datetime, note: str | None,
) -> PolicyVersion:  # fmt: skip
    latest = await current(session, kind)
    if latest is None:
        session.add(PolicyVersion(kind=kind, version=1, body=seed, note="config.yaml 初始值",
                                  created_at=now, created_by=SEED_ACTOR))  # fmt: skip
        number = 2
    else:
        if latest.body == body:
            return latest  # nothing changed: no new version
        number = latest.version + 1
    row = PolicyVersion(kind=kind, version=number, body=body, note=note, created_at=now,
                        created_by=actor)  # fmt: skip
    session.add(row)
    await session.flush()
    return row


async def save_rules(
    session: AsyncSession, settings: TicketsConfig, rules: Sequence[TicketRule],
    default_department: str | None, *, actor: str, now: datetime, note: str | None = None,
) -> PolicyVersion:  # fmt: skip
    """A new version of the routing rules (the config seed first, on the first save)."""
    seed = rules_body(settings.tickets.rules, settings.tickets.default_department)
    body = rules_body(rules, default_department)
    return await _save(session, RULES, body, seed, actor=actor, now=now, note=note)


async def save_classes(
    session: AsyncSession, settings: TicketsConfig, changes: Mapping[str, Any], *,
    actor: str, now: datetime, note: str | None = None,
) -> PolicyVersion:  # fmt: skip
    """A new version of the deadline classes: ``changes`` merged over the classes in force.

    Existing tickets keep their deadline (its N was fixed at receipt); new tickets use these.
    """
    in_force = await classes_in_force(session, settings)
    merged = {**in_force, **parse_classes(changes)}
    DeadlineRule(merged)  # refuses negatives with a Chinese message
    seed = {"classes": {str(k): v for k, v in settings.deadlines.items()}}
    return await _save(session, CLASSES, {"classes": merged}, seed, actor=actor, now=now,
                       note=note)  # fmt: skip


async def classes_in_force(session: AsyncSession, settings: TicketsConfig) -> dict[str, int]:
    row = await current(session, CLASSES)
    if row is None:
        return {str(k): v for k, v in settings.deadlines.items()}
    return {str(k): int(v) for k, v in row.body["classes"].items()}


async def rules_in_force(
    session: AsyncSession, settings: TicketsConfig
) -> tuple[tuple[TicketRule, ...], str | None]:
    row = await current(session, RULES)
    if row is None:
        return settings.tickets.rules, settings.tickets.default_department
    return parse_rules(row.body)
