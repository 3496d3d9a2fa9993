"""Credentials for ``/api/v1``: an API token in, a :class:`Principal` (who, role, scope) out.

A token comes as ``Authorization: Bearer hub_…`` or as ``X-Hub-Token: hub_…``. No token is a
401 ``unauthenticated``; a token that is unknown or revoked is a 401 too; a staff member whose
role a route does not allow (or whose stored role is not one the hub knows) gets a 403
``forbidden``. Routes take the principal with ``Depends(ctx.authenticate)`` and restrict roles
with ``Depends(allow(ctx.authenticate, StaffRole.ADMIN, ...))``.

The principal carries its :class:`~hub.queries.scope.Visibility`:

- ``admin`` sees every enterprise, addresses in full;
- ``dispatcher`` sees addresses in full (they route requests and call back), within its scope;
- ``handler``, ``head``, ``viewer`` see addresses masked, within their scope;
- ``officer`` sees addresses masked, only the enterprises of the liaison officer the account
  is linked to (``Staff.officer_id``), their messages, replies, tickets and visits; an officer
  account not linked sees none.

The scope is the department's industries (``Department.industries``; none for the
business-environment office, which oversees them all) and the district (``Enterprise.region``);
an account with neither sees every enterprise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.tickets.staff import StaffRole, StaffView, staff_for_token, visibility_for
from hub.web.api.errors import forbidden, unauthenticated

TOKEN_HEADER = "X-Hub-Token"

# Declared as FastAPI security schemes so /openapi.json (and the docs' "Authorize") show both.
_bearer = HTTPBearer(auto_error=False, description="API 令牌：hub staff token USERNAME")
_header = APIKeyHeader(name=TOKEN_HEADER, auto_error=False, description="API 令牌（同上）")


@dataclass(frozen=True, slots=True)
class Principal:
    """The staff member behind a request, with what they may see."""

    staff_id: int
    username: str
    name: str
    role: StaffRole
    department_id: int | None
    department_code: str | None
    district: str | None
    visibility: Visibility
    #: An officer account's liaison officer code (None: not linked, or not an officer).
    officer_code: str | None = None


def principal_of(staff: StaffView) -> Principal | None:
    """The principal of a staff account; None when its stored role is not one the hub knows."""
    role = staff.staff_role
    if role is None:
        return None
    return Principal(
        staff_id=staff.id,
        username=staff.username,
        name=staff.name,
        role=role,
        department_id=staff.department_id,
        department_code=staff.department_code,
        district=staff.district,
        visibility=visibility_for(staff, role),
        officer_code=staff.officer_code,
    )


class Authenticator:
    """The FastAPI dependency that resolves a request's token to its principal."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def __call__(
        self,
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header_token: Annotated[str | None, Depends(_header)],
    ) -> Principal:
        token = (bearer.credentials if bearer is not None else None) or header_token
        if not token:
            raise unauthenticated()
        staff = await staff_for_token(self._db, token.strip())
        if staff is None:
            raise unauthenticated("登录凭证无效或已撤销")
        principal = principal_of(staff)
        if principal is None:
            raise forbidden()
        request.state.principal = principal  # for access logs and audit entries
        return principal


def allow(
    authenticate: Authenticator, *roles: StaffRole
) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only ``roles`` through (403 ``forbidden`` for the others)."""
    allowed = frozenset(roles)

    # A default rather than Annotated: FastAPI evaluates this function's (string) annotations
    # in the module's namespace, where `authenticate` does not exist.
    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:  # noqa: B008
        if principal.role not in allowed:
            raise forbidden()
        return principal

    return dependency
