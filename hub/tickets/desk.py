"""The ticket desk: what the CLI and the API do with tickets, with roles and scope checked.

One code path for ``hub tickets …`` and ``/api/v1/tickets…``: look the ticket up, check the
caller may see it (:class:`~hub.queries.tickets.TicketScope`) and may take the step (the
role table below), take the step in one write transaction together with the messages it
causes (the extension notice, the answer with the rating request), then enqueue those
messages after the commit. A desk made :meth:`TicketDesk.audited` (the web admin's) also writes
the step's audit entry in that transaction.

Roles and steps (a handler or head only on tickets of their own department)::

    assign               admin, dispatcher, head
    start, transfer,
    return, resolve      admin, dispatcher, head, handler
    extend (approve)     admin, dispatcher, head
    reopen, flag-rating  admin, dispatcher, head
    viewer               reads only
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import Clock
from hub.core.errors import AccessDeniedError, NotFoundError, UsageError
from hub.core.vocab import DepartmentRole
from hub.infra.queue import Queue
from hub.outbound.notify import NotifyResult, enqueue_notified
from hub.outbound.planning import PlanningPolicy
from hub.queries.scope import Visibility
from hub.queries.tickets import (
    TicketFilter,
    TicketScope,
    TicketViews,
)
from hub.queries.tickets import list_tickets as query_tickets
from hub.rendering.render import TemplateRenderer
from hub.store.audit import AuditNote
from hub.store.db import Database
from hub.store.models import Department, Rating, Staff, Ticket
from hub.tickets.feedback import FeedbackSender, send_feedback
from hub.tickets.lifecycle import (
    assign,
    extend,
    reopen,
    resolve,
    return_to_dispatcher,
    start,
    transfer,
)
from hub.tickets.lifecycle import ticket_by_number as find_ticket
from hub.tickets.notices import notify_extension
from hub.tickets.policy import load_ticket_policy
from hub.tickets.ratings import flag_malicious
from hub.tickets.settings import TicketsConfig
from hub.tickets.staff import StaffRole, list_staff, visibility_for

_WORKERS = frozenset({StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.HEAD, StaffRole.HANDLER})
_SUPERVISORS = frozenset({StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.HEAD})
STEP_ROLES: dict[str, frozenset[StaffRole]] = {
    "assign": _SUPERVISORS,
    "start": _WORKERS,
    "transfer": _WORKERS,
    "return": _WORKERS,
    "resolve": _WORKERS,
    "extend": _SUPERVISORS,
    "reopen": _SUPERVISORS,
    "flag_rating": _SUPERVISORS,
}
STEP_LABELS = {
    "assign": "分派", "start": "开始办理", "transfer": "转办", "return": "退单", "resolve": "办结",
    "extend": "批准延期", "reopen": "重办", "flag_rating": "标记恶意差评",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Messaging:
    """What sending the step's messages needs; without it steps are recorded, nothing is sent."""

    renderer: TemplateRenderer
    policy: PlanningPolicy
    queue: Queue
    feedback: FeedbackSender | None = None


def scope_of_staff(
    *, role: StaffRole, username: str, department_id: int | None,
    department_role: DepartmentRole | None, visibility: Visibility,
) -> TicketScope:  # fmt: skip
    return TicketScope.for_staff(
        role=role, username=username, department_id=department_id,
        business_office=department_role is DepartmentRole.BUSINESS_OFFICE, visibility=visibility,
    )  # fmt: skip


class TicketDesk:
    """Tickets for the CLI and the API (module docstring)."""

    def __init__(
        self,
        db: Database,
        settings: TicketsConfig,
        clock: Clock,
        messaging: Messaging | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.messaging = messaging
        self._audit: AuditNote | None = None

    def audited(self, note: AuditNote) -> TicketDesk:
        """This desk, whose steps also write ``note`` (completed with the ticket's number and
        its state after the step) in the step's transaction: a refused step writes nothing."""
        desk = TicketDesk(self.db, self.settings, self.clock, self.messaging)
        desk._audit = note
        return desk

    @property
    def tz(self) -> Any:
        return self.settings.hub.tz

    async def scope_as(self, username: str | None) -> TicketScope:
        """The console operator (all), or a staff member's scope (``--as USERNAME``)."""
        if username is None:
            return TicketScope.operator()

        view = next((s for s in await list_staff(self.db) if s.username == username), None)
        if view is None or view.staff_role is None:
            raise NotFoundError(f"没有用户名为 {username} 的工作人员")
        return scope_of_staff(
            role=view.staff_role, username=view.username, department_id=view.department_id,
            department_role=view.department_role,
            visibility=visibility_for(view, view.staff_role),
        )  # fmt: skip

    async def list_tickets(self, scope: TicketScope, wanted: TicketFilter) -> list[dict[str, Any]]:
        now = self.clock.now()
        async with self.db.read() as session:
            views = TicketViews(session, scope, self.tz)
            return [
                await views.summary(t, now) for t in await query_tickets(session, wanted, scope)
            ]

    async def show(self, scope: TicketScope, number: str) -> dict[str, Any]:
        async with self.db.read() as session:
            ticket = await self._visible(session, scope, number)
            return await TicketViews(session, scope, self.tz).detail(ticket, self.clock.now())

    async def _visible(self, session: AsyncSession, scope: TicketScope, number: str) -> Ticket:
        ticket = await find_ticket(session, number)
        if ticket is None:
            raise NotFoundError(f"没有编号为 {number.strip()} 的工单")
        if not await scope.sees(session, ticket):
            raise AccessDeniedError(f"工单 {ticket.number} 不在您的部门范围内，无权查看或办理")
        return ticket

    @staticmethod
    def _allowed(scope: TicketScope, step: str) -> None:
        if scope.role is not None and scope.role not in STEP_ROLES[step]:
            raise AccessDeniedError(f"{scope.role.label}无权{STEP_LABELS[step]}")

    @staticmethod
    def _actor(scope: TicketScope, actor: str | None) -> str:
        return scope.username or actor or "cli"

    async def _step(
        self,
        scope: TicketScope,
        number: str,
        step: str,
        actor: str | None,
        act: Callable[[AsyncSession, Ticket, str], Awaitable[list[NotifyResult]]],
    ) -> dict[str, Any]:
        self._allowed(scope, step)
        who = self._actor(scope, actor)
        async with self.db.write() as session:
            ticket = await self._visible(session, scope, number)
            results = await act(session, ticket, who)
            if self._audit is not None:
                self._audit.add(session, self.clock.now(), target_id=ticket.number,
                                state=ticket.state.value)  # fmt: skip
        if results and self.messaging is not None:
            await enqueue_notified(self.messaging.queue, results)
        # After a transfer or a return the ticket may have left the caller's department: the
        # answer shows it anyway (the caller just acted on it), addresses masked by role.
        shown = replace(TicketScope.operator(), visibility=scope.visibility)
        return await self.show(shown, number)

    async def assign(
        self, scope: TicketScope, number: str, handler: str, *, actor: str | None = None
    ) -> dict[str, Any]:
        async def act(session: AsyncSession, ticket: Ticket, who: str) -> list[NotifyResult]:
            staff = await session.scalar(sa.select(Staff).where(Staff.username == handler))
            if staff is None:
                raise NotFoundError(f"没有用户名为 {handler} 的工作人员")
            if not scope.sees_all_departments and staff.department_id != scope.department_id:
                raise AccessDeniedError(f"{handler} 不是本部门的承办人")
            await assign(session, ticket, staff, actor=who, now=self.clock.now())
            return []

        return await self._step(scope, number, "assign", actor, act)

    async def start(
        self, scope: TicketScope, number: str, *, actor: str | None = None
    ) -> dict[str, Any]:
        async def act(session: AsyncSession, ticket: Ticket, who: str) -> list[NotifyResult]:
            await start(session, ticket, actor=who, now=self.clock.now())
            return []

        return await self._step(scope, number, "start", actor, act)

    async def transfer(
        self, scope: TicketScope, number: str, department: str, *, reason: str,
        actor: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        async def act(session: AsyncSession, ticket: Ticket, who: str) -> list[NotifyResult]:
            target = await session.scalar(
                sa.select(Department).where(Department.code == department.strip().upper())
            )
            if target is None:
                raise NotFoundError(f"没有代码为 {department} 的部门")
            await transfer(session, ticket, target, reason=reason, actor=who, now=self.clock.now())
            return []

        return await self._step(scope, number, "transfer", actor, act)

    async def return_(
        self, scope: TicketScope, number: str, *, reason: str, actor: str | None = None
    ) -> dict[str, Any]:
        async def act(session: AsyncSession, ticket: Ticket, who: str) -> list[NotifyResult]:
            now = self.clock.now()
            await return_to_dispatcher(session, ticket, reason=reason, actor=who, now=now)
            return []

        return await self._step(scope, number, "return", actor, act)

    async def resolve(
        self, scope: TicketScope, number: str, *, answer: str, actor: str | None = None
    ) -> dict[str, Any]:
        async def act(session: AsyncSession, ticket: Ticket, who: str) -> list[NotifyResult]:
            now = self.clock.now()
            await resolve(session, ticket, answer=answer, actor=who, now=now)
            if self.messaging is None or self.messaging.feedback is None:
                return []
            return await send_feedback(
                session, ticket, answer=answer.strip(), now=now,
                sender=self.messaging.feedback, actor=who,
            )  # fmt: skip

        return await self._step(scope, number, "resolve", actor, act)

    async def extend(
        self, scope: TicketScope, number: str, *, days: int, reason: str,
        actor: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        async def act(session: AsyncSession, ticket: Ticket, who: str) -> list[NotifyResult]:
            now = self.clock.now()
            policy = await load_ticket_policy(session, self.settings)
            deadline = await extend(session, ticket, policy=policy, working_days=days,
                                    reason=reason, actor=who, now=now)  # fmt: skip
            if self.messaging is None:
                return []
            return await notify_extension(
                session, ticket, deadline, reason=reason.strip(), now=now,
                renderer=self.messaging.renderer, policy=self.messaging.policy,
            )  # fmt: skip

        return await self._step(scope, number, "extend", actor, act)

    async def reopen(
        self, scope: TicketScope, number: str, *, reason: str, actor: str | None = None
    ) -> dict[str, Any]:
        async def act(session: AsyncSession, ticket: Ticket, who: str) -> list[NotifyResult]:
            await reopen(session, ticket, reason=reason, actor=who, now=self.clock.now())
            return []

        return await self._step(scope, number, "reopen", actor, act)

    async def flag_rating(
        self, scope: TicketScope, rating_id: int, *, reason: str, actor: str | None = None
    ) -> dict[str, Any]:
        self._allowed(scope, "flag_rating")
        async with self.db.read() as session:
            rating = await session.get(Rating, rating_id)
            ticket = await session.get(Ticket, rating.ticket_id) if rating else None
        if ticket is None:
            raise NotFoundError(f"评价 {rating_id} 不存在")

        async def act(session: AsyncSession, ticket: Ticket, who: str) -> list[NotifyResult]:
            await flag_malicious(session, rating_id, reason=reason, actor=who,
                                 now=self.clock.now())  # fmt: skip
            return []

        if not reason or not reason.strip():
            raise UsageError("标记恶意差评必须填写原因 (--reason)")
        return await self._step(scope, ticket.number, "flag_rating", actor, act)
