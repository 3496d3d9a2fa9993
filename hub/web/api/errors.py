"""API errors: one JSON shape, ``{"error": <Chinese message>, "code": <key>}``, for every failure.

:class:`ApiRoute` turns the errors raised while a request is handled (by a dependency, by
request validation, by FastAPI reading the body, or by the hub's own
``NotFoundError``/``UsageError``) into that shape on the routes of the API routers themselves,
so the app needs no exception handler of its own. A method a path does not support answers 405
in that shape too, with ``Allow`` naming every method of the path (not only the first route's).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from hub.core.errors import HubError, NotFoundError, UsageError


class ErrorBody(BaseModel):
    """What every failed API call answers."""

    error: str
    code: str


class ApiError(HubError):
    """An API failure with its HTTP status, its code and a Chinese message for the user."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.message, "code": self.code}, self.status, headers=self.headers
        )


def unauthenticated(message: str = "需要登录凭证") -> ApiError:
    # RFC 6750 §3: a 401 names the scheme the client should use.
    return ApiError(401, "unauthenticated", message, {"WWW-Authenticate": "Bearer"})


def forbidden() -> ApiError:
    return ApiError(403, "forbidden", "无权访问")


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def invalid(message: str) -> ApiError:
    return ApiError(422, "invalid", message)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for problem in exc.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()) if p not in ("query", "path"))
        parts.append(f"{where}: {problem.get('msg', '')}")
    return "参数无效 (invalid parameter)：" + "；".join(parts)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _methods_of_path(scope: Scope) -> list[str]:
    """Every method some route of the app serves at the scope's path.

    Asked of the app's routes as the router asks them (FastAPI nests included routers), with
    the request's method replaced by each method in turn.
    """
    routes = getattr(scope.get("router"), "routes", ())
    return [
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def _http_error(exc: HTTPException) -> ApiError:
    """What FastAPI raises itself (a body it cannot read, a body too large) in the API's shape."""
    if exc.status_code == 400:
        # An undecodable body; malformed JSON is already a 422 from request validation.
        return invalid("请求体无法解析：应为 UTF-8 编码的 JSON")
    code = {413: "too_large"}.get(exc.status_code, "http_error")
    return ApiError(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


class ApiRoute(APIRoute):
    """A route whose errors answer in the API's JSON shape (see the module docstring)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The router hands a request whose path matches but whose method does not to the
        # first such route, whose own methods would be all that Starlette puts in Allow.
        if self.methods and scope["method"] not in self.methods:
            error = ApiError(405, "method_not_allowed", f"不支持 {scope['method']} 方法",
                             {"Allow": ", ".join(_methods_of_path(scope))})  # fmt: skip
            await error.response()(scope, receive, send)
            return
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except ApiError as exc:
                return exc.response()
            except HTTPException as exc:
                return _http_error(exc).response()
            except RequestValidationError as exc:
                return invalid(_validation_message(exc)).response()
            except NotFoundError as exc:
                return not_found(str(exc)).response()
            except UsageError as exc:
                return invalid(str(exc)).response()

        return handler


# For the OpenAPI document: what each authenticated route may answer besides success.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "需要登录凭证，或凭证无效、已撤销"},
    403: {"model": ErrorBody, "description": "无权访问（角色不允许）"},
    422: {"model": ErrorBody, "description": "参数无效"},
}


def not_found_response(what: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route that answers 404 when the record ``what`` does not exist."""
    return {404: {"model": ErrorBody, "description": f"没有该{what}（或不在调用者范围内）"}}


# ``responses=`` of a route with a request body (the app limits bodies before they are read).
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {413: {"description": "请求体过大"}}
