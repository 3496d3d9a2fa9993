"""API errors: one JSON shape, ``{"error": <Chinese message>, "code": <key>}``, for every failure.

:class:`ApiRoute` turns the errors raised while a request is handled (by a dependency, by
request validation, or by the hub's own ``NotFoundError``/``UsageError``) into that shape on the
routes of the API routers themselves, so the app needs no exception handler of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from hub.errors import NotFoundError, UsageError


class ErrorBody(BaseModel):
    """What every failed API call answers."""

    error: str
    code: str


class ApiError(Exception):
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


class ApiRoute(APIRoute):
    """A route whose errors answer in the API's JSON shape (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except ApiError as exc:
                return exc.response()
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
