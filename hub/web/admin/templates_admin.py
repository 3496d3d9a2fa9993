"""Message templates (消息模板): ``/admin/templates`` — the versions in the database, edited.

The list shows every stored (kind, channel) template and its current version. A template's
editor holds its body (and, as its meta declares them, the SMS parameters' expressions and
provider template ids, or the WeChat fields); "预览" checks the edit with the same check as
``hub templates check`` (:func:`hub.rendering.check.check_spec`: undeclared variables, SMS
segments with the signature, WeChat 20-character fields, approved-template parameters, plus
changed SMS wording under an unchanged provider id) and renders it for the chosen contact's
enterprise through the sandboxed renderer, as ``hub templates preview`` does; "保存为新版本"
stores it as ``hub templates sync`` stores a file (:func:`write_template_versions`) only when
the check passes. The history lists every version; two are compared by a server-side diff; a
rollback stores an earlier version again as a new one. A test send puts the draft in the editor
(checked as a save is, not saved) on the sandbox channel for the chosen contact through
:func:`hub.outbound.notify.notify_one` (what the closed loop's single messages use), so it
appears in the phone simulator; the audit log records it as a test send of an unsaved draft.

Admins edit (save, roll back, test send: each audit-logged); dispatchers, who run the message
flow, may read and preview; other roles have no use for template wording and no access.
Files in ``templates/`` stay the seed and the export format.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from hub.core.errors import HubError, RenderError
from hub.core.vocab import ChannelName, MessageKind
from hub.infra.queue import Queue
from hub.outbound.notify import Recipient, enqueue_notified, enterprise_context, notify_one
from hub.queries.phone import search_contacts
from hub.queries.template_admin import (
    PreviewTarget,
    VersionRow,
    preview_target,
    template_lines,
    template_versions,
)
from hub.rendering.check import (
    DEFAULT_MAX_SMS_SEGMENTS,
    RENDER_ROOM_CHARS,
    check_spec,
    stored_wording_problems,
)
from hub.rendering.render import TemplateRenderer
from hub.rendering.sandbox import RenderLimits
from hub.rendering.sms_signature import signature_in_force
from hub.rendering.sms_text import PLACEHOLDER, measure_sms, sms_text
from hub.rendering.template_spec import Catalog, SmsSpec, TemplateSpec, WechatSpec
from hub.rendering.template_store import stored_sms_texts
from hub.rendering.templates import META_FILE, Problem, example_context, standard_context
from hub.store.templates import TemplateDraft, write_template_versions
from hub.tickets.staff import StaffRole
from hub.web.admin.actors import actor_label
from hub.web.admin.audit import note, record
from hub.web.admin.auth import (
    ADMIN_PREFIX,
    AdminPageError,
    SignedIn,
    admin_context,
    flash,
    form_data,
    require_role,
)
from hub.web.admin.context import AdminContext
from hub.web.admin.shell import ENV, PAGE_HEADERS, render

TEMPLATES_PATH = f"{ADMIN_PREFIX}/templates"
MAX_BODY = 4_000
MAX_SEARCH = 64
_readers = require_role(StaffRole.ADMIN, StaffRole.DISPATCHER)
_editors = require_role(StaffRole.ADMIN)


def editor_path(kind: str, channel: str) -> str:
    return f"{TEMPLATES_PATH}/{kind}/{channel}"


def _key(kind: str, channel: str) -> tuple[str, str]:
    """The (kind, channel) of a URL, or the 404 page."""
    try:
        return MessageKind(kind).value, ChannelName(channel).value
    except ValueError:
        raise AdminPageError(404, "没有这个消息模板") from None


async def _history(ctx: AdminContext, kind: str, channel: str) -> tuple[int, list[VersionRow]]:
    current, versions = await template_versions(ctx.db, kind, channel)
    if not versions:
        raise AdminPageError(404, f"数据库中没有 {kind}/{channel} 的模板")
    return current, versions


def _in_force(kind: str, channel: str, current: int, versions: list[VersionRow]) -> TemplateSpec:
    """The spec of the current version."""
    return _spec_of(kind, channel, next(v for v in versions if v.version == current))


def _spec_of(kind: str, channel: str, row: VersionRow) -> TemplateSpec:
    return TemplateSpec.from_json(kind, channel, row.body, row.meta, version=row.version,
                                  version_id=row.version_id)  # fmt: skip


def _edited(spec: TemplateSpec, form: dict[str, str]) -> TemplateSpec:
    """The stored spec with the form's body, SMS parameters and ids, WeChat fields."""
    # Browsers send a textarea's lines with CRLF: stored text keeps LF as the files do.
    body = form.get("body", spec.body).replace("\r\n", "\n")[:MAX_BODY]
    sms, wechat = spec.sms, spec.wechat
    if sms is not None:
        params = tuple(dataclasses.replace(p, expr=form.get(f"sms_expr_{i}", p.expr).strip())
                       for i, p in enumerate(sms.params))  # fmt: skip
        ids = {p: form.get(f"sms_id_{p}", i).strip() for p, i in sms.template_ids.items()}
        sms = SmsSpec(ids, params)
    if wechat is not None:
        fields = tuple((n, form.get(f"wechat_{n}", s)) for n, s in wechat.fields)
        wechat = WechatSpec(form.get("wechat_template_id", wechat.template_id).strip(), fields)
    return dataclasses.replace(spec, body=body, sms=sms, wechat=wechat, version=None,
                               version_id=None)  # fmt: skip


async def _problems(ctx: AdminContext, spec: TemplateSpec) -> list[Problem]:
    """What ``hub templates check`` finds wrong with the edited template."""
    renderer = TemplateRenderer(Catalog([spec]), limits=RenderLimits(max_chars=RENDER_ROOM_CHARS))
    found = check_spec(spec, renderer, spec.kind, sign=signature_in_force(ctx.sms).name,
                       max_sms_segments=DEFAULT_MAX_SMS_SEGMENTS)  # fmt: skip
    found += stored_wording_problems(spec, await stored_sms_texts(ctx.db), spec.kind)
    return list(dict.fromkeys(found))


def _by_field(problems: list[Problem]) -> dict[str, list[str]]:
    """The problems next to the field they are about: the body, or the meta's fields."""
    fields: dict[str, list[str]] = {"body": [], "meta": []}
    for p in problems:
        fields["meta" if p.file.endswith(META_FILE) else "body"].append(
            f"第 {p.line} 行：{p.reason}" if p.line and not p.file.endswith(META_FILE)
            else p.reason
        )  # fmt: skip
    return fields


def _preview(ctx: AdminContext, spec: TemplateSpec, target: PreviewTarget) -> dict[str, Any]:
    """The edited template rendered for the contact's enterprise (``hub templates preview``)."""
    hub_name = ctx.programs.outbox.planner.policy.hub_name if ctx.programs else "主动服务"
    context = standard_context(target.enterprise, target.contact, target.officer, hub_name)
    examples = example_context(spec)
    context.update({n: examples[n] for n in spec.variables})
    shown: dict[str, Any] = {"enterprise": target.enterprise.name,
                             "contact": target.contact.name or "", "error": ""}  # fmt: skip
    try:
        rendered = TemplateRenderer(Catalog([spec])).render_spec(spec, context)
    except RenderError as exc:
        return {**shown, "error": str(exc)}
    shown.update(body=rendered.body, fields=dict(rendered.fields), sms=None)
    if spec.approved_sms:
        sign = signature_in_force(ctx.sms)
        length = measure_sms(rendered.body, sign.name)
        shown["sms"] = {"text": sms_text(rendered.body, sign.name), "chars": length.chars,
                        "segments": length.segments, "sign_source": sign.source,
                        "params": list(rendered.template_param().items())}  # fmt: skip
    return shown


async def _target(ctx: AdminContext, signed_in: SignedIn, contact_id: str) -> PreviewTarget | None:
    if not contact_id.isdigit():
        return None
    return await preview_target(ctx.db, int(contact_id), signed_in.visibility)


def _diff(old: VersionRow, new: VersionRow) -> Markup:
    """Two versions side by side (body, then meta), changes marked: server-side HTML."""

    def lines(row: VersionRow) -> list[str]:
        meta = [f"{k}: {json.dumps(v, ensure_ascii=False)}"
                for k, v in sorted(row.meta.items()) if k != "source"]  # fmt: skip
        return [*row.body.split("\n"), "", "—— meta ——", *meta]

    table = difflib.HtmlDiff(wrapcolumn=60).make_table(
        lines(old), lines(new), f"第 {old.version} 版", f"第 {new.version} 版", context=False
    )
    return Markup(table)  # difflib escapes the lines it is given


async def _editor(
    request: Request, signed_in: SignedIn, kind: str, channel: str, *,
    form: dict[str, str] | None = None, status: int = 200, checked: bool = False,
    diff: tuple[VersionRow, VersionRow] | None = None,
) -> HTMLResponse:  # fmt: skip
    """The editor page: the stored version or the posted edit, with its check and preview."""
    ctx = admin_context(request)
    current, versions = await _history(ctx, kind, channel)
    spec = _in_force(kind, channel, current, versions)
    edited = _edited(spec, form) if form is not None else spec
    fields: dict[str, list[str]] = {"body": [], "meta": []}
    preview = None
    query = request.query_params
    contact_id = (form or {}).get("contact_id", query.get("contact_id", ""))
    if checked:
        fields = _by_field(await _problems(ctx, edited))
        target = await _target(ctx, signed_in, contact_id)
        if target is not None:
            preview = _preview(ctx, edited, target)
    search = query.get("q", "").strip()[:MAX_SEARCH]
    contacts = await search_contacts(ctx.db, search, signed_in.visibility, limit=10)
    return await render(
        request, "templates_editor.html", status=status,
        title=f"模板 {MessageKind(kind).label} · {ChannelName(channel).label}",
        kind=kind, channel=channel, kind_label=MessageKind(kind).label,
        channel_label=ChannelName(channel).label, spec=edited, current=current,
        versions=[_version_line(ctx, v) for v in versions], fields=fields,
        problems=fields["body"] + fields["meta"], checked=checked, preview=preview,
        contacts=contacts, contact_id=contact_id, q=search, placeholders=_placeholders(edited),
        can_edit=signed_in.role is StaffRole.ADMIN, path=editor_path(kind, channel),
        sms_sign=signature_in_force(ctx.sms) if edited.approved_sms else None,
        diff=_diff(*diff) if diff else None, diff_versions=diff,
    )  # fmt: skip


def _placeholders(spec: TemplateSpec) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(spec.body))) if spec.approved_sms else []


def _version_line(ctx: AdminContext, row: VersionRow) -> dict[str, Any]:
    return {"version": row.version, "by": actor_label(row.created_by, {}),
            "at": f"{row.created_at.astimezone(ctx.tz):%Y-%m-%d %H:%M}"}  # fmt: skip


async def _store(
    ctx: AdminContext, signed_in: SignedIn, spec: TemplateSpec, action: str,
    detail: dict[str, Any],
) -> str | None:  # fmt: skip
    """Store ``spec`` as the template's new version, its audit entry in the same transaction;
    its label, or None when it equals the current version."""
    draft = TemplateDraft(spec.kind, spec.channel, spec.body, spec.meta_json())
    entry = note(signed_in, action, "template", f"{spec.kind}/{spec.channel}", detail)
    written = await write_template_versions(ctx.db, [draft], ctx.clock, signed_in.username,
                                            only_new=False, audit=entry)  # fmt: skip
    return written.updated[0] if written.updated else None


async def _test_send(
    ctx: AdminContext, signed_in: SignedIn, draft: TemplateSpec, based_on: int,
    target: PreviewTarget,
) -> str:  # fmt: skip
    """The draft in the editor (not saved) on the sandbox for the contact, through the
    single-message path; its audit entry in the same transaction. The flash."""
    if ctx.programs is None:
        raise HubError("此服务未配置发件箱，不能试发")
    policy = ctx.programs.outbox.planner.policy
    # The sandbox shows this channel's wording: its twin on the sandbox channel (an approved
    # SMS text becomes the Jinja its parameters' expressions fill).
    twin = dataclasses.replace(draft, channel=ChannelName.SANDBOX.value, sms=None, wechat=None)
    if draft.approved_sms and draft.sms is not None:
        exprs = {p.name: p.expr for p in draft.sms.params}
        twin = dataclasses.replace(twin, body=PLACEHOLDER.sub(
            lambda m: "{{ " + exprs.get(m.group(1), '""') + " }}", draft.body))  # fmt: skip
    examples = example_context(draft)
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        context = {**{n: examples[n] for n in draft.variables},
                   **await enterprise_context(session, target.enterprise.id)}  # fmt: skip
        result = await notify_one(
            session, kind=MessageKind(draft.kind), recipient=Recipient.for_contact(target.contact),
            context=context, trigger="admin.template_test",
            trigger_key=f"{draft.channel}:draft-of-v{based_on}:{signed_in.username}:"
                        f"{now.isoformat()}",
            now=now, renderer=TemplateRenderer(Catalog([twin])), policy=policy,
            channel=ChannelName.SANDBOX, quiet=False,
        )  # fmt: skip
        record(session, signed_in, now, "template.test_send", "template",
               f"{draft.kind}/{draft.channel}",
               {"draft": "unsaved", "based_on_version": based_on, "body": draft.body,
                "meta": draft.meta_json(), "contact_id": target.contact.id,
                "message_id": result.message_id})  # fmt: skip
    await enqueue_notified(Queue(ctx.redis, ctx.keys, clock=ctx.clock), [result])
    if result.reason:
        return f"试发未成功：{result.reason}"
    return (f"已将编辑中的草稿（基于第 {based_on} 版，未保存）试发到沙箱"
            f"（消息 {result.message_id}），请在模拟手机查看")  # fmt: skip


def router() -> APIRouter:
    """The list, the editor (preview, save), the live preview fragment, the diff, rollback and
    test send (POSTs, CSRF-checked by the mount)."""
    routes = APIRouter()

    @routes.get(TEMPLATES_PATH)
    async def template_list(
        request: Request,
        signed_in: SignedIn = Depends(_readers),  # noqa: B008
    ) -> HTMLResponse:
        ctx = admin_context(request)
        kinds: dict[str, dict[str, Any]] = {}
        for line in await template_lines(ctx.db):
            entry = kinds.setdefault(
                line.kind,
                {"kind": line.kind, "channels": [], "label": MessageKind(line.kind).label},
            )
            entry["channels"].append({
                "channel": line.channel, "label": ChannelName(line.channel).label,
                "version": line.current_version, "by": actor_label(line.updated_by, {}),
                "at": f"{line.updated_at.astimezone(ctx.tz):%Y-%m-%d %H:%M}",
                "path": editor_path(line.kind, line.channel),
            })  # fmt: skip
        return await render(request, "templates_list.html", title="消息模板",
                            kinds=list(kinds.values()))  # fmt: skip

    @routes.get(TEMPLATES_PATH + "/{kind}/{channel}")
    async def editor(
        request: Request, kind: str, channel: str,
        signed_in: SignedIn = Depends(_readers),  # noqa: B008
    ) -> HTMLResponse:  # fmt: skip
        kind, channel = _key(kind, channel)
        contact = request.query_params.get("contact_id", "")
        return await _editor(request, signed_in, kind, channel, checked=bool(contact))

    @routes.get(TEMPLATES_PATH + "/{kind}/{channel}/diff")
    async def diff(
        request: Request, kind: str, channel: str, a: int = 0, b: int = 0,
        signed_in: SignedIn = Depends(_readers),  # noqa: B008
    ) -> HTMLResponse:  # fmt: skip
        kind, channel = _key(kind, channel)
        _current, versions = await _history(admin_context(request), kind, channel)
        by_number = {v.version: v for v in versions}
        if a not in by_number or b not in by_number:
            raise AdminPageError(404, "请选择两个存在的版本进行比较")
        old, new = sorted((by_number[a], by_number[b]), key=lambda v: v.version)
        return await _editor(request, signed_in, kind, channel, diff=(old, new))

    @routes.post(TEMPLATES_PATH + "/{kind}/{channel}/preview")
    async def live_preview(
        request: Request, kind: str, channel: str,
        signed_in: SignedIn = Depends(_readers),  # noqa: B008
    ) -> HTMLResponse:  # fmt: skip
        # The htmx fragment: the check and the preview of what is typed, nothing stored.
        kind, channel = _key(kind, channel)
        ctx = admin_context(request)
        form = await form_data(request)
        current, versions = await _history(ctx, kind, channel)
        edited = _edited(_in_force(kind, channel, current, versions), form)
        fields = _by_field(await _problems(ctx, edited))
        target = await _target(ctx, signed_in, form.get("contact_id", ""))
        html = ENV.get_template("templates_preview.html").render(
            checked=True,
            problems=fields["body"] + fields["meta"],
            preview=_preview(ctx, edited, target) if target else None,
        )
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @routes.post(TEMPLATES_PATH + "/{kind}/{channel}")
    async def submit(
        request: Request, kind: str, channel: str,
        signed_in: SignedIn = Depends(_readers),  # noqa: B008
    ) -> Response:  # fmt: skip
        kind, channel = _key(kind, channel)
        form = await form_data(request)
        if form.get("action") != "save":
            return await _editor(request, signed_in, kind, channel, form=form, checked=True)
        if signed_in.role is not StaffRole.ADMIN:
            raise AdminPageError(403, "无权访问：只有管理员可以修改模板")
        ctx = admin_context(request)
        current, versions = await _history(ctx, kind, channel)
        edited = _edited(_in_force(kind, channel, current, versions), form)
        if await _problems(ctx, edited):
            # Refused: the page again with the edit and its problems; nothing stored.
            return await _editor(request, signed_in, kind, channel, form=form, checked=True,
                                 status=422)  # fmt: skip
        label = await _store(ctx, signed_in, edited, "template.save", {"from_version": current})
        await flash(request, f"已保存为新版本 {label}" if label else "内容与当前版本相同，未保存")
        return RedirectResponse(editor_path(kind, channel), status_code=303)

    @routes.post(TEMPLATES_PATH + "/{kind}/{channel}/rollback")
    async def rollback(
        request: Request, kind: str, channel: str,
        signed_in: SignedIn = Depends(_editors),  # noqa: B008
    ) -> RedirectResponse:  # fmt: skip
        kind, channel = _key(kind, channel)
        ctx = admin_context(request)
        wanted = (await form_data(request)).get("version", "")
        _current, versions = await _history(ctx, kind, channel)
        old = next((v for v in versions if str(v.version) == wanted), None)
        if old is None:
            raise AdminPageError(404, "没有这个版本")
        label = await _store(ctx, signed_in, _spec_of(kind, channel, old), "template.rollback",
                             {"to_version": old.version})  # fmt: skip
        await flash(request, f"已回滚到第 {old.version} 版（新版本 {label}）" if label
                    else f"第 {old.version} 版与当前版本相同，未回滚")  # fmt: skip
        return RedirectResponse(editor_path(kind, channel), status_code=303)

    @routes.post(TEMPLATES_PATH + "/{kind}/{channel}/test-send")
    async def test_send(
        request: Request, kind: str, channel: str,
        signed_in: SignedIn = Depends(_editors),  # noqa: B008
    ) -> Response:  # fmt: skip
        # The editor's form, posted here by its 试发 button: the draft as typed, checked as a
        # save is checked, sent to the sandbox and not saved; the editor again with the draft.
        kind, channel = _key(kind, channel)
        ctx = admin_context(request)
        form = await form_data(request)
        target = await _target(ctx, signed_in, form.get("contact_id", ""))
        if target is None:
            raise AdminPageError(404, "请先选择一个您范围内的联系人")
        current, versions = await _history(ctx, kind, channel)
        draft = _edited(_in_force(kind, channel, current, versions), form)
        if await _problems(ctx, draft):
            return await _editor(request, signed_in, kind, channel, form=form, checked=True,
                                 status=422)  # fmt: skip
        try:
            await flash(request, await _test_send(ctx, signed_in, draft, current, target))
        except HubError as exc:
            await flash(request, f"试发失败：{exc}", "error")
        return await _editor(request, signed_in, kind, channel, form=form, checked=True)

    return routes
