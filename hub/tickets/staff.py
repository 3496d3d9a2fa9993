"""Staff accounts and their API tokens.

A token is ``hub_`` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored
(``Staff.token_hash``), so the token is shown once, when it is issued; issuing a new one
replaces the hash, which revokes the old token. A request is authenticated by hashing the token
it presents and looking the hash up: no stored secret is ever compared byte by byte.

An account of role ``officer`` stands for one liaison officer (``Staff.officer_id``, given by
the officer's code): it sees only that officer's enterprises (:func:`visibility_for`).

Every change here is written to the audit log with the actor who made it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import Clock
from hub.core.errors import NotFoundError, UsageError
from hub.core.identifiers import normalize_mobile, normalize_wecom_userid
from hub.core.vocab import DepartmentRole, LabelledEnum
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.store.models import AuditLog, Department, Officer, Staff

__all__ = [
    "TOKEN_PREFIX",
    "NewStaff",
    "StaffRole",
    "StaffView",
    "add_missing_staff",
    "add_staff",
    "hash_token",
    "issue_token",
    "list_staff",
    "new_token",
    "revoke_token",
    "set_officer",
    "staff_by_id",
    "staff_for_token",
]

TOKEN_PREFIX = "hub_"
_TOKEN_BYTES = 32


class StaffRole(LabelledEnum):
    """What a staff member may do; the scope (department, district) says on which enterprises."""

    ADMIN = "admin", "管理员"
    DISPATCHER = "dispatcher", "派单员"
    HANDLER = "handler", "承办人"
    HEAD = "head", "部门负责人"
    OFFICER = "officer", "联络员"
    VIEWER = "viewer", "查看者"


# Roles that work one department's tickets: an account without a department is meaningless.
_NEEDS_DEPARTMENT = frozenset({StaffRole.HANDLER, StaffRole.HEAD})


@dataclass(frozen=True, slots=True)
class NewStaff:
    """What ``add_staff`` needs; ``department`` is a department code, ``officer`` a liaison
    officer's code (an ``officer`` account's, which it requires)."""

    username: str
    name: str
    role: StaffRole
    department: str | None = None
    district: str | None = None
    mobile: str | None = None
    wecom_userid: str | None = None
    officer: str | None = None


@dataclass(frozen=True, slots=True)
class StaffView:
    """A staff member as the API and the CLI show it, with the department resolved.

    ``role`` is the stored text: an account edited by hand to an unknown role still lists (and
    is refused everywhere by the API) instead of breaking the listing.
    """

    id: int
    username: str
    name: str
    role: str
    department_id: int | None
    department_code: str | None
    department_name: str | None
    department_role: DepartmentRole | None
    department_industries: tuple[str, ...]
    district: str | None
    absent: bool
    has_token: bool
    #: An officer account's liaison officer (None: not linked, or not an officer account).
    officer_id: int | None = None
    officer_code: str | None = None
    officer_name: str | None = None

    @property
    def officer_label(self) -> str:
        """The linked officer as pages and the CLI name it: ``李明（LL001）``; "" when none."""
        return f"{self.officer_name}（{self.officer_code}）" if self.officer_code else ""

    @property
    def staff_role(self) -> StaffRole | None:
        return _known_role(self.role)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "role": self.role,
            "role_label": role.label if (role := self.staff_role) else self.role,
            "department": self.department_code,
            "district": self.district,
            "officer": self.officer_code,
            "absent": self.absent,
            "has_token": self.has_token,
        }


def _known_role(text: str) -> StaffRole | None:
    try:
        return StaffRole(text)
    except ValueError:
        return None


def new_token() -> str:
    """A fresh API token: ``hub_`` + 32 random bytes, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The stored form of a token (SHA-256, hex): a token has 256 bits, so no salt is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def _industries(text: str | None) -> tuple[str, ...]:
    return tuple(part for part in (text or "").split(";") if part.strip())


def _select_views() -> sa.Select[Staff, Department, Officer]:
    return (
        sa.select(Staff, Department, Officer)
        .outerjoin(Department, Staff.department_id == Department.id)
        .outerjoin(Officer, Staff.officer_id == Officer.id)
        .order_by(Staff.username)
    )


def _view(staff: Staff, department: Department | None, officer: Officer | None) -> StaffView:
    return StaffView(
        id=staff.id,
        username=staff.username,
        name=staff.name,
        role=staff.role,
        department_id=staff.department_id,
        department_code=department.code if department else None,
        department_name=department.name if department else None,
        department_role=department.role if department else None,
        department_industries=_industries(department.industries if department else None),
        district=staff.district,
        absent=staff.absent,
        has_token=staff.token_hash is not None,
        officer_id=officer.id if officer else None,
        officer_code=officer.code if officer else None,
        officer_name=officer.name if officer else None,
    )


def _clean_optional(value: str | None) -> str | None:
    cleaned = (value or "").strip()
    return cleaned or None


def _optional_id(what: str, value: str | None, normalize: Callable[[str], str]) -> str | None:
    if _clean_optional(value) is None:
        return None
    assert value is not None
    try:
        return normalize(value)
    except ValueError as exc:
        raise UsageError(f"{what}“{value}”{exc}") from exc


def _checked(new: NewStaff) -> NewStaff:
    username = new.username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise UsageError(f"用户名“{new.username}”无效：不能为空、不能含空白，最长 64 个字符")
    name = new.name.strip()
    if not name:
        raise UsageError("姓名不能为空 (--name)")
    department = _clean_optional(new.department)
    if new.role in _NEEDS_DEPARTMENT and department is None:
        raise UsageError(f"角色 {new.role.value}/{new.role.label} 必须指定部门 (--department)")
    officer = _officer_code(new.role, new.officer)
    mobile = _optional_id("手机", new.mobile, normalize_mobile)
    userid = _optional_id("企业微信账号", new.wecom_userid, normalize_wecom_userid)
    return NewStaff(username, name, new.role, department, _clean_optional(new.district),
                    mobile, userid, officer)  # fmt: skip


def _officer_code(role: StaffRole | None, code: str | None) -> str | None:
    """The officer code an account of ``role`` is linked by: required of officers only."""
    cleaned = _clean_optional(code)
    if role is StaffRole.OFFICER and cleaned is None:
        raise UsageError(f"角色 {role.value}/{role.label} 必须指定联络员编码 (--officer，如 LL001)")
    if role is not StaffRole.OFFICER and cleaned is not None:
        raise UsageError(
            f"只有联络员（officer）账号可关联联络员，{role.label if role else '该'}账号不可以"
        )
    return cleaned.upper() if cleaned is not None else None


async def _officer_named(session: AsyncSession, code: str) -> Officer:
    officer = await session.scalar(
        sa.select(Officer).where(sa.func.upper(Officer.code) == code.strip().upper())
    )
    if officer is None:
        raise UsageError(f"没有编码为 {code} 的联络员（先用 `hub import officers` 导入）")
    return officer


async def _audit(
    session: AsyncSession, clock: Clock, actor: str, action: str, username: str,
    detail: dict[str, object] | None = None,
) -> None:  # fmt: skip
    session.add(AuditLog(at=clock.now(), actor=actor, action=action, target_type="staff",
                         target_id=username, detail=detail or {}))  # fmt: skip


async def add_staff(db: Database, clock: Clock, new: NewStaff, *, actor: str) -> StaffView:
    """Create a staff account (without a token: ``issue_token`` gives one)."""
    new = _checked(new)
    async with db.write() as session:
        taken = await session.scalar(sa.select(Staff.id).where(Staff.username == new.username))
        if taken is not None:
            raise UsageError(f"用户名 {new.username} 已存在")
        return await _insert(session, clock, new, actor)


async def add_missing_staff(
    db: Database, clock: Clock, accounts: Sequence[NewStaff], *, actor: str
) -> list[str]:
    """Create the accounts whose username is not taken yet, in one transaction; returns them.

    An existing account is left as it is (an admin may have changed it): running the same
    list twice creates nothing the second time.
    """
    checked = [_checked(new) for new in accounts]
    async with db.write() as session:
        taken = set(
            await session.scalars(
                sa.select(Staff.username).where(Staff.username.in_([n.username for n in checked]))
            )
        )
        created = []
        for new in checked:
            if new.username not in taken:
                await _insert(session, clock, new, actor)
                created.append(new.username)
    return created


async def _insert(session: AsyncSession, clock: Clock, new: NewStaff, actor: str) -> StaffView:
    now = clock.now()
    department = None
    if new.department is not None:
        department = await session.scalar(
            sa.select(Department).where(Department.code == new.department)
        )
        if department is None:
            raise UsageError(
                f"没有编码为 {new.department} 的部门（先用 `hub import departments` 导入）"
            )
    officer = await _officer_named(session, new.officer) if new.officer is not None else None
    staff = Staff(
        username=new.username, name=new.name, role=new.role.value,
        department_id=department.id if department else None, district=new.district,
        officer_id=officer.id if officer else None,
        mobile=new.mobile, wecom_userid=new.wecom_userid, absent=False, token_hash=None,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(staff)
    await session.flush()
    await _audit(session, clock, actor, "staff.added", new.username,
                 {"officer": officer.code} if officer else None)  # fmt: skip
    return _view(staff, department, officer)


async def _staff_named(session: AsyncSession, username: str) -> Staff:
    staff = await session.scalar(sa.select(Staff).where(Staff.username == username))
    if staff is None:
        raise NotFoundError(f"没有用户名为 {username} 的工作人员")
    return staff


async def issue_token(db: Database, clock: Clock, username: str, *, actor: str) -> str:
    """Issue a new token for the account, revoking the one it had; returns it (shown once)."""
    token = new_token()
    async with db.write() as session:
        staff = await _staff_named(session, username)
        staff.token_hash, staff.updated_at = hash_token(token), clock.now()
        await _audit(session, clock, actor, "staff.token_issued", username)
    return token


async def revoke_token(db: Database, clock: Clock, username: str, *, actor: str) -> bool:
    """Revoke the account's token; False when it had none."""
    async with db.write() as session:
        staff = await _staff_named(session, username)
        had = staff.token_hash is not None
        staff.token_hash, staff.updated_at = None, clock.now()
        await _audit(session, clock, actor, "staff.token_revoked", username)
    return had


async def set_officer(
    db: Database, clock: Clock, username: str, code: str, *, actor: str
) -> StaffView:
    """Link an officer account to the liaison officer ``code`` (it then sees that officer's
    enterprises only); audit-logged as ``staff.officer_linked`` with the old and new codes."""
    async with db.write() as session:
        staff = await _staff_named(session, username)
        officer = await _officer_named(session, _officer_code(_known_role(staff.role), code) or "")
        before = await session.scalar(sa.select(Officer.code).where(Officer.id == staff.officer_id))
        staff.officer_id, staff.updated_at = officer.id, clock.now()
        await _audit(session, clock, actor, "staff.officer_linked", username,
                     {"officer": officer.code, "before": before})  # fmt: skip
        await session.flush()
        row = (await session.execute(_select_views().where(Staff.id == staff.id))).one()
    return _view(*row)


async def set_absent(
    db: Database, clock: Clock, username: str, absent: bool, *, actor: str
) -> bool:
    """Mark a staff member absent (请假: round-robin skips them) or back; False if unchanged."""
    async with db.write() as session:
        staff = await _staff_named(session, username)
        if staff.absent is absent:
            return False
        staff.absent, staff.updated_at = absent, clock.now()
        await _audit(session, clock, actor, "staff.absent" if absent else "staff.back", username)
    return True


async def list_staff(db: Database) -> list[StaffView]:
    """Every staff account, by username."""
    async with db.read() as session:
        rows = (await session.execute(_select_views())).all()
    return [_view(staff, department, officer) for staff, department, officer in rows]


async def staff_by_id(db: Database, staff_id: int) -> StaffView | None:
    """The account with this id, or None (deleted since a session began)."""
    async with db.read() as session:
        row = (await session.execute(_select_views().where(Staff.id == staff_id))).first()
    return _view(*row) if row is not None else None


async def staff_for_token(db: Database, token: str) -> StaffView | None:
    """The account holding this token, or None (unknown, revoked, or not a hub token)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    async with db.read() as session:
        row = (
            await session.execute(_select_views().where(Staff.token_hash == hash_token(token)))
        ).first()
    return _view(*row) if row is not None else None


_FULL_ADDRESSES = frozenset({StaffRole.ADMIN, StaffRole.DISPATCHER})


def visibility_for(staff: StaffView, role: StaffRole) -> Visibility:
    """What a staff member in a role may see.

    An admin sees every enterprise, addresses in full; a dispatcher sees addresses in
    full, within its scope; a handler, head or viewer sees them masked, within its scope:
    the department's industries (none for the business-environment office, which
    oversees them all) and the district; an account with neither sees every enterprise.
    An officer sees the enterprises of the liaison officer it is linked to, addresses
    masked; an officer account not linked sees none (closed by default).
    """
    if role is StaffRole.ADMIN:
        return Visibility.everything(full_addresses=True)
    if role is StaffRole.OFFICER:
        return Visibility.of_officer(staff.officer_id)
    industries = None
    if (
        staff.department_id is not None
        and staff.department_role is not DepartmentRole.BUSINESS_OFFICE
    ):
        industries = frozenset(staff.department_industries)
    return Visibility(industries, staff.district, full_addresses=role in _FULL_ADDRESSES)
