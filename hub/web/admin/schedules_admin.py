"""Schedules (定时计划): ``/admin/schedules``.

The list of the schedules the hub runs (the database's current versions,
:func:`hub.scheduling.schedule_store.stored_schedules`, as ``hub schedules list``), and a
schedule's page: what it does, its next five fire times (the scheduler's trigger; a
working-days-only schedule skips days off), its audience counted with a sample of five (htmx
refreshes them as the audience is typed), the editor, run now (a dry run first), and the history
of its runs (``schedule_run`` rows).

One way to do each thing: the form is validated by
:func:`hub.scheduling.schedules.parse_spec` (the files' and the scheduler's validation, with the
templates in force), stored by :func:`~hub.scheduling.schedule_store.sync_schedules` (a new
version only when it changed), run by :meth:`HubScheduler.fire` as ``hub schedules run`` does
(a fire time runs once), and a dry run plans the same outbox request the fire would submit
(:func:`hub.scheduling.scheduler.campaign_request`) without writing. Every change and every run
is in the audit log under the staff member's name.

Admins and dispatchers edit and run (a fire sends messages to enterprises); the other roles
read, and the page says why they cannot change it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.core.errors import AudienceError, ConfigError, HubError
from hub.core.vocab import ChannelName, MessageKind
from hub.outbound.audience import parse_audience
from hub.queries.registry import EnterpriseFilter, count_enterprises, list_enterprises
from hub.queries.schedule_runs import latest_runs, recent_runs
from hub.queries.scope import Visibility
from hub.scheduling.programs.base import ProgramContext, ProgramSettings, day_off_hold
from hub.scheduling.schedule_store import StoredSchedule, stored_schedules, sync_schedules
from hub.scheduling.scheduler import HubScheduler, campaign_request, programs_in_force
from hub.scheduling.schedules import (
    CAMPAIGN,
    ScheduleSpec,
    parse_spec,
    program_label,
    program_names,
    template_needs,
)
from hub.tickets.staff import StaffRole
from hub.web.admin.audit import note
from hub.web.admin.auth import (
    ADMIN_PREFIX,
    AdminPageError,
    SignedIn,
    admin_context,
    current_staff,
    flash,
    form_data,
    require_role,
)
from hub.web.admin.context import AdminContext
from hub.web.admin.schedule_forms import (
    FIELD_LABELS,
    PRESETS,
    WEEKDAYS,
    FieldError,
    FormInvalid,
    field_errors,
    form_values,
    posted_values,
    spec_mapping,
    upcoming_fires,
)
from hub.web.admin.shell import ENV, PAGE_HEADERS, render

SCHEDULES_PATH: Final = f"{ADMIN_PREFIX}/schedules"
EDITORS: Final = frozenset({StaffRole.ADMIN, StaffRole.DISPATCHER})
SAMPLE: Final = 5
HISTORY: Final = 20
RUN_STATUS: Final = {"running": "执行中", "done": "已完成", "failed": "失败", "disabled": "未启用"}
READ_ONLY_REASON: Final = (
    "您的角色（{role}）只能查看定时计划：修改或执行计划会向企业发送消息，仅管理员和派单员可以操作。"
)
# Paths under /admin/schedules/ that are not schedule names.
_RESERVED: Final = frozenset({"new", "audience"})
_editors = require_role(*EDITORS)


def _local(at: datetime | None, ctx: AdminContext) -> str:
    return f"{at.astimezone(ctx.tz):%Y-%m-%d %H:%M}" if at else ""


def _weekday(at: datetime, ctx: AdminContext) -> str:
    return "一二三四五六日"[at.astimezone(ctx.tz).weekday()]


def _programs(ctx: AdminContext) -> ProgramContext:
    """The outbox and settings a run uses (the app's, as the API's sending routes get them)."""
    if ctx.programs is None:
        raise AdminPageError(503, "本服务未配置发送组件，不能执行计划（请用 hub run 启动的服务）")
    return ctx.programs


async def _program_settings(ctx: AdminContext) -> ProgramSettings:
    """The programs' settings with the calendar a fire now would hold by: the config's years,
    then the years admins entered in the database (as the scheduler reads them at a fire)."""
    base = ctx.programs.settings if ctx.programs is not None else ProgramSettings(tz=ctx.tz)
    return await programs_in_force(ctx.db, base)


async def _stored(ctx: AdminContext, name: str) -> StoredSchedule:
    found = await stored_schedules(ctx.db, [name])
    if not found:
        raise AdminPageError(404, f"没有名为 {name} 的定时计划")
    return found[0]


# --- the audience: a live count and a sample --------------------------------------------------


async def _audience(ctx: AdminContext, expression: str, scope: Visibility) -> dict[str, Any]:
    """How many enterprises the audience matches (that the reader may see) and five of them."""
    try:
        audience = parse_audience(expression)
    except AudienceError as exc:
        return {"error": f"{FIELD_LABELS['audience']}：{exc}", "count": 0, "sample": []}
    wanted = EnterpriseFilter(audience=audience, limit=SAMPLE)
    sample = await list_enterprises(ctx.db, wanted, scope, tz=ctx.tz)
    return {"error": "", "count": await count_enterprises(ctx.db, wanted, scope),
            "sample": [e["name"] for e in sample]}  # fmt: skip


# --- what the pages show ----------------------------------------------------------------------


async def _list_rows(ctx: AdminContext) -> tuple[list[dict[str, Any]], list[str]]:
    """Each schedule's line (and the stored versions that no longer validate)."""
    broken: list[str] = []
    stored = await stored_schedules(
        ctx.db, on_invalid=lambda name, exc: broken.append(f"{name}：{exc.reason}")
    )
    runs = await latest_runs(ctx.db)
    settings = await _program_settings(ctx)
    rows = []
    for s in stored:
        upcoming = upcoming_fires(s.spec, ctx.clock.now(), settings, 1).times
        last = runs.get(s.id)
        rows.append({
            "name": s.spec.name, "description": s.spec.description, "enabled": s.spec.enabled,
            "version": s.version, "cron": s.spec.cron, "program": s.spec.program,
            "program_label": program_label(s.spec.program),
            "kind": s.spec.kind.label, "audience": s.spec.audience,
            "next": _local(upcoming[0], ctx) if upcoming and s.spec.enabled else "",
            "last": _local(last.fire_time, ctx) if last else "",
            "last_status": RUN_STATUS.get(last.status, last.status) if last else "",
        })  # fmt: skip
    return rows, broken


def _history(runs: list[Any], ctx: AdminContext) -> list[dict[str, Any]]:
    return [
        {"fire_time": _local(r.fire_time, ctx), "status": r.status,
         "status_label": RUN_STATUS.get(r.status, r.status), "detail": r.detail or "",
         "campaign_id": r.campaign_id, "version": r.schedule_version,
         "finished_at": _local(r.finished_at, ctx)}
        for r in runs
    ]  # fmt: skip


def _editor_context() -> dict[str, Any]:
    """The editor's choices: presets, weekdays, programs, kinds, channels."""
    return {
        "presets": PRESETS, "weekdays": WEEKDAYS,
        "programs": [(name, program_label(name)) for name in program_names()],
        "kinds": [(k.value, k.label) for k in MessageKind],
        "channels": [(c.value, c.label) for c in ChannelName],
    }  # fmt: skip


async def _schedule_page(
    request: Request, signed_in: SignedIn, name: str, *, status: int = 200,
    values: dict[str, Any] | None = None, errors: list[FieldError] | None = None,
    dry_run: dict[str, Any] | None = None,
) -> HTMLResponse:  # fmt: skip
    ctx = admin_context(request)
    stored = await _stored(ctx, name)
    spec = stored.spec
    upcoming = upcoming_fires(spec, ctx.clock.now(), await _program_settings(ctx))
    can_edit = signed_in.role in EDITORS
    return await render(
        request, "schedule.html", status=status, title=f"定时计划 {name}",
        stored=stored, spec=spec, kind_label=spec.kind.label, program_label=program_label,
        channel_labels="、".join(c.label for c in spec.channels) or "按路由规则",
        upcoming=[(_local(t, ctx), _weekday(t, ctx)) for t in upcoming.times],
        days_off=[f"{d:%Y-%m-%d}" for d in upcoming.days_off],
        audience=await _audience(ctx, spec.audience, signed_in.visibility),
        history=_history(await recent_runs(ctx.db, stored.id, HISTORY), ctx),
        can_edit=can_edit, read_only=READ_ONLY_REASON.format(role=signed_in.role.label),
        values=values or form_values(spec), errors=errors or [], dry_run=dry_run,
        creating=False, **_editor_context(),
    )  # fmt: skip


async def _new_page(
    request: Request, *, status: int = 200, values: dict[str, Any] | None = None,
    errors: list[FieldError] | None = None,
) -> HTMLResponse:  # fmt: skip
    return await render(request, "schedule_new.html", status=status, title="新建定时计划",
                        values=values or form_values(None), errors=errors or [],
                        creating=True, **_editor_context())  # fmt: skip


# --- writing ----------------------------------------------------------------------------------


def _validated(ctx: AdminContext, form: dict[str, str], name: str) -> ScheduleSpec:
    """The form as a spec, through parse_spec with the templates in force; FormInvalid if not."""
    data, enabled = spec_mapping(form, name=name)
    renderer = ctx.programs.outbox.planner.renderer if ctx.programs is not None else None
    needs = template_needs(renderer.catalog) if renderer is not None else None
    try:
        return parse_spec(data, default_name=name, file="表单", enabled=enabled, needs=needs)
    except ConfigError as exc:
        raise FormInvalid(field_errors(exc)) from None


async def _save(
    ctx: AdminContext, signed_in: SignedIn, spec: ScheduleSpec, action: str
) -> bool:  # fmt: skip
    """Store ``spec`` (a new version only if it changed) with its audit entry in the same
    transaction; whether anything changed."""
    entry = note(signed_in, action, "schedule", spec.name,
                 {"enabled": spec.enabled, **spec.to_json()})  # fmt: skip
    report = await sync_schedules(ctx.db, [spec], ctx.clock, actor=signed_in.username,
                                  audit=entry)  # fmt: skip
    return bool(report.created or report.updated)


# --- dry run and run --------------------------------------------------------------------------


def _fire_time(ctx: AdminContext) -> datetime:
    """Now, to the minute: the fire time of a run now (as ``hub schedules run`` takes it)."""
    return ctx.clock.now().replace(second=0, microsecond=0)


async def _dry_run(ctx: AdminContext, stored: StoredSchedule, scope: Visibility) -> dict[str, Any]:
    """What a run now would send, counted without writing (as ``hub send --dry-run``)."""
    programs = _programs(ctx)
    spec = stored.spec
    fire_time = _fire_time(ctx)
    settings = await _program_settings(ctx)
    hold = day_off_hold(settings, fire_time) if spec.workdays_only else None
    result: dict[str, Any] = {"error": "", "fire_time": _local(fire_time, ctx),
                              "hold": hold.reason if hold is not None else ""}  # fmt: skip
    if spec.program != CAMPAIGN:
        # A seed program decides per enterprise as it runs (what is due, what was sent):
        # only a run can say what it sends, so the dry run counts its audience.
        audience = await _audience(ctx, spec.audience, scope)
        return result | {"program": True, "recipients": audience["count"], "reasons": []}
    request = campaign_request(spec, fire_time, hold)
    outcome = await programs.outbox.submit(request, dry_run=True)
    return result | {
        "program": False, "recipients": outcome.recipients,
        "messages": sum(outcome.by_channel.values()) + outcome.skipped,
        "by_channel": [(ChannelName(c).label, n) for c, n in sorted(outcome.by_channel.items())],
        "held": outcome.held, "skipped": outcome.skipped,
        "reasons": [(reason or status, n) for (status, reason), n in outcome.reasons.items()],
    }  # fmt: skip


async def _run(ctx: AdminContext, stored: StoredSchedule, signed_in: SignedIn) -> str:
    """Fire the schedule now through the scheduler (as ``hub schedules run``); the flash."""
    programs = _programs(ctx)
    scheduler = HubScheduler(ctx.db, ctx.redis, ctx.keys, programs.outbox, ctx.clock,
                             programs=programs.settings)  # fmt: skip
    fire_time = _fire_time(ctx)
    # Written with the run's claim (its id added): a fire already run writes no entry; how
    # the run ended is on the run row, in the schedule's history.
    entry = note(signed_in, "schedule.run", "schedule", stored.spec.name,
                 {"fire_time": _local(fire_time, ctx)})  # fmt: skip
    result = await scheduler.fire(stored, fire_time, audit=entry)
    when = _local(result.fire_time, ctx)
    if not result.created:
        return (
            f"{when} 这一次已执行过（{RUN_STATUS.get(result.status, result.status)}），未重复发送"
        )
    campaign = f"批次 #{result.campaign_id}" if result.campaign_id is not None else "未建批次"
    return f"已执行 {stored.spec.name} @ {when}：{campaign}，{result.detail}"


# --- routes -----------------------------------------------------------------------------------


def router() -> APIRouter:
    """The list, the audience fragment, new, a schedule's page, save, switch, dry run, run."""
    routes = APIRouter()

    @routes.get(SCHEDULES_PATH)
    async def schedules_page(
        request: Request,
        signed_in: SignedIn = Depends(current_staff),  # noqa: B008
    ) -> HTMLResponse:
        rows, broken = await _list_rows(admin_context(request))
        reason = READ_ONLY_REASON.format(role=signed_in.role.label)
        return await render(request, "schedules.html", title="定时计划", rows=rows,
                            broken=broken, can_edit=signed_in.role in EDITORS,
                            read_only=reason)  # fmt: skip

    @routes.get(SCHEDULES_PATH + "/audience")
    async def audience_fragment(
        request: Request,
        audience: str = "",
        signed_in: SignedIn = Depends(current_staff),  # noqa: B008
    ) -> HTMLResponse:
        found = await _audience(admin_context(request), audience or "all", signed_in.visibility)
        html = ENV.get_template("schedule_audience.html").render(audience=found)
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @routes.get(SCHEDULES_PATH + "/new")
    async def new_page(
        request: Request,
        signed_in: SignedIn = Depends(_editors),  # noqa: B008
    ) -> HTMLResponse:
        return await _new_page(request)

    @routes.post(SCHEDULES_PATH, response_model=None)
    async def create(
        request: Request,
        signed_in: SignedIn = Depends(_editors),  # noqa: B008
    ) -> Response:
        ctx = admin_context(request)
        form = await form_data(request)
        name = form.get("name", "").strip()
        try:
            if name in _RESERVED or await stored_schedules(ctx.db, [name]):
                reason = f"已有名为 {name} 的计划（或为系统保留名称），请换一个名称"
                raise FormInvalid([FieldError("name", FIELD_LABELS["name"], reason)])
            spec = _validated(ctx, form, name)
        except FormInvalid as exc:
            return await _new_page(request, status=400, values=posted_values(form),
                                   errors=exc.errors)  # fmt: skip
        await _save(ctx, signed_in, spec, "schedule.create")
        await flash(request, f"已新建定时计划 {name}（版本 1）")
        return RedirectResponse(f"{SCHEDULES_PATH}/{name}", status_code=303)

    @routes.get(SCHEDULES_PATH + "/{name}")
    async def schedule_page(
        request: Request,
        name: str,
        signed_in: SignedIn = Depends(current_staff),  # noqa: B008
    ) -> HTMLResponse:
        return await _schedule_page(request, signed_in, name)

    @routes.post(SCHEDULES_PATH + "/{name}", response_model=None)
    async def save(
        request: Request,
        name: str,
        signed_in: SignedIn = Depends(_editors),  # noqa: B008
    ) -> Response:
        ctx = admin_context(request)
        await _stored(ctx, name)
        form = await form_data(request)
        try:
            spec = _validated(ctx, form, name)
        except FormInvalid as exc:
            return await _schedule_page(request, signed_in, name, status=400,
                                        values=posted_values(form) | {"name": name},
                                        errors=exc.errors)  # fmt: skip
        if await _save(ctx, signed_in, spec, "schedule.save"):
            stored = await _stored(ctx, name)
            await flash(request, f"已保存为版本 {stored.version}")
        else:
            await flash(request, "内容未变，未建新版本")
        return RedirectResponse(f"{SCHEDULES_PATH}/{name}", status_code=303)

    @routes.post(SCHEDULES_PATH + "/{name}/enabled")
    async def switch(
        request: Request,
        name: str,
        signed_in: SignedIn = Depends(_editors),  # noqa: B008
    ) -> RedirectResponse:
        ctx = admin_context(request)
        stored = await _stored(ctx, name)
        enabled = (await form_data(request)).get("enabled") == "1"
        spec = replace(stored.spec, enabled=enabled)
        await _save(ctx, signed_in, spec, "schedule.enable" if enabled else "schedule.disable")
        await flash(request, f"计划 {name} 已{'启用' if enabled else '停用'}")
        return RedirectResponse(f"{SCHEDULES_PATH}/{name}", status_code=303)

    @routes.post(SCHEDULES_PATH + "/{name}/dry-run")
    async def dry_run(
        request: Request,
        name: str,
        signed_in: SignedIn = Depends(_editors),  # noqa: B008
    ) -> HTMLResponse:
        ctx = admin_context(request)
        try:
            found = await _dry_run(ctx, await _stored(ctx, name), signed_in.visibility)
        except HubError as exc:
            found = {"error": str(exc)}
        return await _schedule_page(request, signed_in, name, dry_run=found)

    @routes.post(SCHEDULES_PATH + "/{name}/run")
    async def run(
        request: Request,
        name: str,
        signed_in: SignedIn = Depends(_editors),  # noqa: B008
    ) -> RedirectResponse:
        ctx = admin_context(request)
        stored = await _stored(ctx, name)
        try:
            await flash(request, await _run(ctx, stored, signed_in))
        except Exception as exc:  # the run row records it (failed); the page says it
            await flash(request, f"执行失败：{exc}", "error")
        return RedirectResponse(f"{SCHEDULES_PATH}/{name}", status_code=303)

    return routes
