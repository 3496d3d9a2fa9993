"""Staff passwords for the web admin: argon2id hashes, sign-in with a lockout, changes.

Only the argon2id hash is stored (``Staff.password_hash``, argon2-cffi's defaults: RFC 9106's
memory-hard parameters); an account without one cannot sign in. Wrong passwords in a row are
counted on the account (``failed_logins``); at ``LockoutPolicy.max_failures`` the account is
locked until ``locked_until`` and even the right password is refused until then, so guessing
is limited per account whatever the source address. A sign-in to an unknown username costs
the same hash as a known one, so the answer's timing does not tell which usernames exist.

Hashing is CPU-bound (tens of milliseconds): it runs in a worker thread, off the event loop.
Every change (password set or changed, sign-in, lockout) is written to the audit log. A
session keeps its password's stamp (a fingerprint of the hash): when the password is set or
changed, by anyone, the sessions begun with the old one end.

This lives beside :mod:`hub.tickets.staff` (not in ``hub.web``) because the CLI
(``hub staff set-password``) and ``hub demo`` set passwords too.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import Clock
from hub.core.errors import NotFoundError, UsageError
from hub.store.db import Database
from hub.store.models import AuditLog, Staff

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "LockoutPolicy",
    "SignIn",
    "SignInOutcome",
    "SignInState",
    "change_password",
    "check_new_password",
    "password_stamp",
    "set_missing_passwords",
    "set_password",
    "sign_in",
    "sign_in_states",
]

#: Longer passwords are refused before hashing (argon2 hashes any length; a megabyte would
#: only cost CPU).
MAX_PASSWORD_LENGTH = 128
_HASHER = PasswordHasher()
# Verified against when the username is unknown, so both answers take as long.
_DUMMY_HASH = _HASHER.hash("no such account")


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """How many wrong passwords in a row lock an account, for how long; the shortest password."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)
    min_length: int = 10


class SignInOutcome(enum.Enum):
    """What a sign-in attempt came to."""

    OK = "ok"
    WRONG = "wrong"  # unknown username, no password set, or a wrong password
    LOCKED = "locked"  # too many wrong passwords: refused until ``locked_until``


@dataclass(frozen=True, slots=True)
class SignIn:
    """A sign-in attempt's outcome; ``staff_id`` when it succeeded, ``locked_until`` when locked."""

    outcome: SignInOutcome
    staff_id: int | None = None
    locked_until: datetime | None = None
    failures_left: int | None = None
    #: The password's stamp (``password_stamp``) when it succeeded, for the session to keep.
    stamp: str = ""


@dataclass(frozen=True, slots=True)
class SignInState:
    """An account's sign-in state as an admin sees it (never the hash)."""

    has_password: bool
    failed_logins: int
    locked_until: datetime | None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


async def sign_in_states(db: Database) -> dict[str, SignInState]:
    """Every account's sign-in state, by username."""
    async with db.read() as session:
        has_password = Staff.password_hash.is_not(None)
        query = sa.select(Staff.username, has_password, Staff.failed_logins, Staff.locked_until)
        rows = await session.execute(query)
        return {name: SignInState(bool(has), failed, until) for name, has, failed, until in rows}


def stamp_of(password_hash: str) -> str:
    """A short fingerprint of a stored hash: a session keeps it, and ends when it changes."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


async def password_stamp(db: Database, staff_id: int) -> str | None:
    """The account's current password stamp; None when it has no password (or is gone)."""
    async with db.read() as session:
        stored = await session.scalar(sa.select(Staff.password_hash).where(Staff.id == staff_id))
    return stamp_of(stored) if stored is not None else None


def check_new_password(password: str, min_length: int) -> None:
    """Refuse a password that is too short or too long (UsageError, in Chinese)."""
    if len(password) < min_length:
        raise UsageError(f"密码至少 {min_length} 个字符")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UsageError(f"密码最多 {MAX_PASSWORD_LENGTH} 个字符")


async def _hash(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def _verify(stored: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def _audit(
    session: AsyncSession, clock: Clock, actor: str, action: str, username: str,
    detail: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    session.add(AuditLog(at=clock.now(), actor=actor, action=action, target_type="staff",
                         target_id=username, detail=detail or {}))  # fmt: skip


async def _staff_named(session: AsyncSession, username: str) -> Staff:
    staff = await session.scalar(sa.select(Staff).where(Staff.username == username))
    if staff is None:
        raise NotFoundError(f"没有用户名为 {username} 的工作人员")
    return staff


async def set_password(
    db: Database, clock: Clock, username: str, password: str, *, actor: str, min_length: int
) -> None:
    """Set an account's password (an admin or the CLI); it also lifts a lockout."""
    check_new_password(password, min_length)
    hashed = await _hash(password)
    async with db.write() as session:
        staff = await _staff_named(session, username)
        staff.password_hash, staff.failed_logins, staff.locked_until = hashed, 0, None
        staff.updated_at = clock.now()
        _audit(session, clock, actor, "staff.password_set", username)


async def set_missing_passwords(
    db: Database, clock: Clock, usernames: list[str], password: str, *, actor: str
) -> list[str]:
    """Give the accounts that have no password this one (the demo's); returns them.

    An account whose password was set already keeps it: the demo run again changes nothing.
    """
    hashed = await _hash(password)
    async with db.write() as session:
        accounts = await session.scalars(
            sa.select(Staff).where(Staff.username.in_(usernames), Staff.password_hash.is_(None))
        )
        changed = []
        for staff in accounts:
            staff.password_hash, staff.updated_at = hashed, clock.now()
            _audit(session, clock, actor, "staff.password_set", staff.username)
            changed.append(staff.username)
    return sorted(changed)


async def sign_in(
    db: Database, clock: Clock, username: str, password: str, policy: LockoutPolicy
) -> SignIn:
    """Check a username and password, counting wrong ones and locking at the policy's limit."""
    now = clock.now()
    async with db.read() as session:
        staff = await session.scalar(sa.select(Staff).where(Staff.username == username))
    if staff is not None and staff.locked_until is not None and staff.locked_until > now:
        # Refused without looking at the password: a guess during the lock teaches nothing.
        return SignIn(SignInOutcome.LOCKED, locked_until=staff.locked_until)
    stored = staff.password_hash if staff is not None else None
    matches = await _verify(stored or _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
    if staff is None or stored is None:
        return SignIn(SignInOutcome.WRONG)
    async with db.write() as session:
        row = await session.get(Staff, staff.id, with_for_update=True)
        assert row is not None
        if matches and len(password) <= MAX_PASSWORD_LENGTH:
            row.failed_logins, row.locked_until = 0, None
            current = stored
            if _HASHER.check_needs_rehash(stored):
                current = row.password_hash = await _hash(password)
            _audit(session, clock, username, "staff.signed_in", username)
            return SignIn(SignInOutcome.OK, staff_id=row.id, stamp=stamp_of(current))
        # A lock that has ended starts the count again.
        failures = (0 if row.locked_until is not None else row.failed_logins) + 1
        if failures >= policy.max_failures:
            row.failed_logins, row.locked_until = 0, now + policy.lock_for
            _audit(session, clock, username, "staff.locked", username,
                   {"until": row.locked_until.isoformat(), "failures": failures})  # fmt: skip
            return SignIn(SignInOutcome.LOCKED, locked_until=row.locked_until)
        row.failed_logins, row.locked_until = failures, None
        _audit(session, clock, username, "staff.sign_in_failed", username,
               {"failures": failures})  # fmt: skip
        return SignIn(SignInOutcome.WRONG, failures_left=policy.max_failures - failures)


async def change_password(
    db: Database, clock: Clock, staff_id: int, old: str, new: str, *, min_length: int
) -> str:
    """A signed-in staff member's own change: the old password must match (UsageError if not).

    Returns the new password's stamp: every session begun with the old password ends.
    """
    check_new_password(new, min_length)
    async with db.read() as session:
        staff = await session.get(Staff, staff_id)
    if staff is None or staff.password_hash is None:
        raise NotFoundError("账号不存在或未设置密码")
    if not await _verify(staff.password_hash, old[:MAX_PASSWORD_LENGTH]):
        raise UsageError("原密码不正确")
    if old == new:
        raise UsageError("新密码不能与原密码相同")
    hashed = await _hash(new)
    async with db.write() as session:
        row = await session.get(Staff, staff_id)
        assert row is not None
        row.password_hash, row.updated_at = hashed, clock.now()
        _audit(session, clock, row.username, "staff.password_changed", row.username)
    return stamp_of(hashed)
