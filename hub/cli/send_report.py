"""What ``hub send`` tells its user: counts, why messages wait or were skipped, and when
held ones go; and, for ``--help``, each kind's variables.

Every message the plan did not queue has a reason (``SendOutcome.reasons``); a send that
reaches nobody says why by count — an audience that matched no enterprise (with the values the
registry has instead), every message skipped (opted out, no address on the channel, a
frequency cap, the same content recently, a variable the template needs: ``--set name=…``), a
repeat of a cancelled campaign — and exits 1. A repeat of a send (the same
``--idempotency-key``) whose messages exist already is not "nobody": they were sent by the
first run, so it exits 0 saying ``重复忽略 N 条``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from typer.core import TyperCommand

from hub.app.runtime import PROJECT_ROOT
from hub.core.vocab import MessageKind, MessageStatus
from hub.outbound.outbox import SendOutcome
from hub.outbound.quiet_hours import QUIET_REASON_PREFIX
from hub.rendering.template_spec import STANDARD_VARIABLES
from hub.rendering.templates import load_folder
from hub.rendering.variable_values import type_label

_MISSING = re.compile(r"缺少变量 (\w+)")
_STATUS_LABELS = {"held": "暂缓", "skipped": "跳过", "failed": "失败", "dead": "死信"}


def readable_reason(reason: str) -> str:
    """A reason as the sender can act on it: a missing variable names the ``--set`` to add."""
    found = _MISSING.search(reason)
    if found is None:
        return reason
    name = found.group(1)
    return f"{reason.removeprefix('模板渲染失败：')}（用 --set {name}=…）"


def release_note(release_at: datetime | None, tz: ZoneInfo) -> str:
    return f"将于 {release_at.astimezone(tz):%m-%d %H:%M} 发送" if release_at else ""


def build_report(
    outcome: SendOutcome,
    *,
    dry_run: bool,
    expression: str,
    hints: Sequence[str],
    final: Mapping[str, int] | None,
    final_held: Sequence[Mapping[str, Any]],
    cancelled: bool = False,
) -> dict[str, Any]:
    """The outcome as ``--json`` prints it (and the text report reads it); ``cancelled``: the
    send's campaign is cancelled (``hub campaigns cancel``), so a repeat of it writes nothing."""
    reasons = [
        {"status": status, "reason": readable_reason(reason), "count": n}
        for (status, reason), n in outcome.reasons.most_common()
    ]
    return {
        "dry_run": dry_run,
        "campaign_id": outcome.campaign_id,
        "enterprises": outcome.recipients,
        "by_channel": dict(outcome.by_channel),
        "skipped": outcome.skipped,
        "held": outcome.held,
        "created": outcome.created,
        "duplicates": outcome.duplicates,
        "queued": outcome.queued,
        "reasons": reasons,
        "samples": [{"channel": s.channel.value, "body": s.body} for s in outcome.samples],
        "final": dict(final) if final is not None else None,
        "final_held": list(final_held),
        "nothing_sent": _nothing_sent(outcome, expression, hints, reasons, cancelled=cancelled),
    }


def _nothing_sent(
    outcome: SendOutcome,
    expression: str,
    hints: Sequence[str],
    reasons: Sequence[Mapping[str, Any]],
    *,
    cancelled: bool,
) -> list[str]:
    """Why no message will go (empty when some will, now or after quiet hours)."""
    if cancelled and outcome.created == 0:
        return [f"批次 campaign #{outcome.campaign_id} 已取消，同一 --idempotency-key 不再发送"
                f"（要重新发送请换一个键）"]  # fmt: skip
    if sum(outcome.by_channel.values()):
        return []
    if outcome.recipients == 0:
        return [f"受众 {expression} 匹配 0 家企业", *hints]
    return [f"{r['count']} 条{_STATUS_LABELS.get(r['status'], r['status'])}：{r['reason']}"
            for r in reasons]  # fmt: skip


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The text report, line by line."""
    channels = "，".join(f"{c} {n} 条" for c, n in report["by_channel"].items()) or "无"
    if report["dry_run"]:
        lines = [
            f"预演 (dry run)，不发送：企业 {report['enterprises']} 家，可发 "
            f"{sum(report['by_channel'].values())} 条（{channels}），其中免打扰暂缓 "
            f"{report['held']} 条；不发送 {report['skipped']} 条"
        ]
    else:
        campaign = (f"批次 campaign #{report['campaign_id']}" if report["campaign_id"]
                    is not None else "未建批次（没有可记录的消息）")  # fmt: skip
        lines = [
            f"{campaign}：企业 {report['enterprises']} 家，"
            f"渠道 {channels}；新建 {report['created']} 条，重复忽略 {report['duplicates']} 条，"
            f"入队 {report['queued']} 条，免打扰暂缓 {report['held']} 条，"
            f"不发送 {report['skipped']} 条"
        ]
    if not report["nothing_sent"]:
        for r in report["reasons"]:
            label = _STATUS_LABELS.get(r["status"], r["status"])
            lines.append(f"  {label} {r['count']} 条：{r['reason']}")
    lines.extend(f"  [{s['channel']}] {s['body']}" for s in report["samples"])
    if report["final"] is not None:
        lines.append(final_summary(report["final"], report["final_held"]))
    if report["nothing_sent"]:
        lines.append("没有发出任何消息：")
        lines.extend(f"  {line}" for line in report["nothing_sent"])
    return lines


def final_summary(final: Mapping[str, int], held: Iterable[Mapping[str, Any]]) -> str:
    """``最终：已发送 0，免打扰暂缓 3（将于 12-07 08:00 发送），排队 0``."""
    sent = final.get(MessageStatus.SENT.value, 0) + final.get(MessageStatus.DELIVERED.value, 0)
    held = list(held)
    notes = sorted({h["note"] for h in held if h.get("note")})
    # Held by quiet hours, or (a campaign paused meanwhile) for another reason.
    quiet = all(str(h.get("reason") or "").startswith(QUIET_REASON_PREFIX) for h in held)
    held_text = f"{'免打扰暂缓' if quiet else '暂缓'} {final.get(MessageStatus.HELD.value, 0)}"
    if notes:
        held_text += f"（{'；'.join(notes)}）"
    parts = [f"已发送 {sent}", held_text, f"排队 {final.get('pending', 0)}"]
    for status in ("failed", "dead", "skipped"):
        if final.get(status):
            parts.append(f"{_STATUS_LABELS[status]} {final[status]}")
    return "最终：" + "，".join(parts)


def kinds_help() -> str:
    """Each kind's variables (``--set name=value``) from the shipped templates' meta.yaml."""
    catalog = load_folder(PROJECT_ROOT / "templates").catalog
    declared: dict[str, dict[str, str]] = {}
    for spec in catalog:
        for name, variable in spec.variables.items():
            if name not in STANDARD_VARIABLES:
                mark = "" if variable.required and variable.default is None else "，可选"
                if (label := type_label(variable)) is not None:
                    mark += f"，{label}"
                declared.setdefault(spec.kind, {})[name] = f"{name}（{variable.description}{mark}）"
    lines = ["各类消息的变量（--set 名称=值）："]
    for kind in MessageKind:
        names = declared.get(kind.value, {})
        lines.append(f"  {kind.value}: {'、'.join(names.values()) if names else '无'}")
    return "\n\n".join(lines)


class SendCommand(TyperCommand):
    """``hub send``, whose help ends with each kind's variables, read when help is shown (no
    file is read at import time)."""

    @property
    def epilog(self) -> str | None:
        return kinds_help()

    @epilog.setter
    def epilog(self, value: str | None) -> None:
        """click sets the epilog in ``__init__``; this command computes its own."""
