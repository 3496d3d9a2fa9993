"""The phone simulator (模拟手机): ``/admin/simulator`` — act as an enterprise's contact.

Pick a contact (search by enterprise, USCC, name or mobile); its phone shows what the sandbox
channel delivered to it and what it replied (:mod:`hub.web.admin.phone_view`), the buttons a
message asks for drawn as Telegram and WeCom draw them. A typed reply or a pressed button goes in
through :func:`hub.inbound.sandbox_reply.accept_sandbox_reply`, exactly as ``hub sandbox reply``
does (stored, linked to the contact by its mobile, queued for the inbound worker); the phone
polls its conversation (htmx, every few seconds; a reload without JavaScript), so the hub's
answer appears once the worker has applied the reply and the dispatcher delivered it.

Admins and dispatchers only: a reply made here is the enterprise's word to the hub — it opens
tickets, rates them, answers visit proposals — so only the staff who run the message flow may
speak for an enterprise (a handler could otherwise rate their own ticket), and each reply is in
the audit log under their name. A dispatcher picks among the enterprises of their scope.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from channels.sandbox import SandboxChannel
from hub.core.errors import HubError
from hub.inbound.sandbox_reply import accept_sandbox_reply
from hub.infra.queue import Queue
from hub.queries.phone import PhoneContact, phone_contact, search_contacts
from hub.tickets.staff import StaffRole
from hub.web.admin.audit import note
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
from hub.web.admin.phone_view import conversation, shown_reply
from hub.web.admin.shell import ENV, PAGE_HEADERS, render

SIMULATOR_PATH = f"{ADMIN_PREFIX}/simulator"
MAX_SEARCH = 64
MAX_REPLY = 500  # a phone's message; the inbound path cleans and stores what it is given
_allowed = require_role(StaffRole.ADMIN, StaffRole.DISPATCHER)


def phone_path(contact_id: int) -> str:
    return f"{SIMULATOR_PATH}/{contact_id}"


def _sandbox(ctx: AdminContext) -> SandboxChannel:
    """A reader of the sandbox inboxes (the channel's Redis lists, under the hub's keys)."""
    return SandboxChannel(ctx.redis, ctx.keys, ctx.clock)


async def _contact(ctx: AdminContext, signed_in: SignedIn, contact_id: int) -> PhoneContact:
    found = await phone_contact(ctx.db, contact_id, signed_in.visibility)
    if found is None:
        raise AdminPageError(
            404, f"没有编号为 {contact_id} 的联系人，或该联系人没有手机号、不在您的范围内"
        )
    return found


def router() -> APIRouter:
    """The contact picker, a contact's phone, its conversation fragment, and a reply."""
    routes = APIRouter()

    @routes.get(SIMULATOR_PATH)
    async def picker(
        request: Request,
        q: str = "",
        signed_in: SignedIn = Depends(_allowed),  # noqa: B008
    ) -> HTMLResponse:
        ctx = admin_context(request)
        text = q.strip()[:MAX_SEARCH]
        contacts = await search_contacts(ctx.db, text, signed_in.visibility)
        return await render(request, "simulator.html", title="模拟手机", q=text,
                            contacts=contacts, contact=None, bubbles=[])  # fmt: skip

    @routes.get(SIMULATOR_PATH + "/{contact_id}")
    async def phone(
        request: Request, contact_id: int, q: str = "",
        signed_in: SignedIn = Depends(_allowed),  # noqa: B008
    ) -> HTMLResponse:  # fmt: skip
        ctx = admin_context(request)
        contact = await _contact(ctx, signed_in, contact_id)
        text = q.strip()[:MAX_SEARCH]
        contacts = await search_contacts(ctx.db, text, signed_in.visibility)
        bubbles = await conversation(ctx.db, _sandbox(ctx), contact.id, ctx.tz)
        title = f"模拟手机 · {contact.enterprise_name}"
        return await render(request, "simulator.html", title=title, q=text, contacts=contacts,
                            contact=contact, bubbles=bubbles)  # fmt: skip

    @routes.get(SIMULATOR_PATH + "/{contact_id}/conversation")
    async def conversation_fragment(
        request: Request,
        contact_id: int,
        q: str = "",
        signed_in: SignedIn = Depends(_allowed),  # noqa: B008
    ) -> HTMLResponse:
        ctx = admin_context(request)
        contact = await _contact(ctx, signed_in, contact_id)
        bubbles = await conversation(ctx.db, _sandbox(ctx), contact.id, ctx.tz)
        # Rendered without the layout (and without taking the session's flash messages,
        # which the next full page shows): htmx swaps it into the phone every few seconds.
        html = ENV.get_template("simulator_conversation.html").render(
            contact=contact, bubbles=bubbles, csrf_token=signed_in.csrf_token, q=q[:MAX_SEARCH]
        )
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @routes.post(SIMULATOR_PATH + "/{contact_id}/reply")
    async def reply(
        request: Request,
        contact_id: int,
        signed_in: SignedIn = Depends(_allowed),  # noqa: B008
    ) -> Response:
        ctx = admin_context(request)
        contact = await _contact(ctx, signed_in, contact_id)
        form = await form_data(request)
        # A pressed button sends its payload; the text box its text.
        text = (form.get("button") or form.get("text") or "").strip()
        back = phone_path(contact.id) + (f"?{urlencode({'q': form['q']})}" if form.get("q") else "")
        if not text:
            await flash(request, "请输入回复内容，或点击消息下方的按钮", "error")
            return RedirectResponse(back, status_code=303)
        if len(text) > MAX_REPLY:
            await flash(request, f"回复过长（最多 {MAX_REPLY} 字）", "error")
            return RedirectResponse(back, status_code=303)
        queue = Queue(ctx.redis, ctx.keys, clock=ctx.clock)
        entry = note(signed_in, "sandbox.reply", "reply",
                     detail={"contact_id": contact.id, "text": text})  # fmt: skip
        try:
            await accept_sandbox_reply(ctx.db, queue, ctx.clock, contact.mobile, text,
                                       audit=entry)  # fmt: skip
        except HubError as exc:
            await flash(request, f"回复未能提交：{exc}", "error")
            return RedirectResponse(back, status_code=303)
        said = "点击了按钮" if form.get("button") else "回复"
        shown = shown_reply(text)
        await flash(request, f"已以「{contact.enterprise_name}」联系人的身份{said}：{shown}")
        return RedirectResponse(back, status_code=303)

    return routes
