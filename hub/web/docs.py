"""``/api/docs``: Swagger UI served by the hub itself, so the page works on an intranet.

FastAPI's default page loads Swagger UI from a CDN, which a government intranet cannot reach
(a blank page). The assets come from the npm package ``swagger-ui-dist``, installed by
``make install`` (``npm ci`` from the committed ``package-lock.json``) into ``node_modules/``
at the project root; only the few files the page needs are served, from an allow-list.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse

DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
# Where `npm ci` puts the package: the project root (the parent of the hub package).
SWAGGER_UI_DIR = Path(__file__).resolve().parents[2] / "node_modules" / "swagger-ui-dist"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def docs_router(*, openapi_url: str, title: str, assets_dir: Path = SWAGGER_UI_DIR) -> APIRouter:
    """The page and its assets; 503 with the fix in Chinese when the assets are not installed."""
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS_PATH)
    async def swagger_ui() -> HTMLResponse:
        if not (assets_dir / "swagger-ui-bundle.js").is_file():
            return HTMLResponse(
                f"<p>接口文档页面的资源未安装（{assets_dir}）：请在项目目录运行 make install"
                "（npm ci）。接口描述仍可在 "
                f'<a href="{openapi_url}">{openapi_url}</a> 获取。</p>',
                status_code=503,
            )
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            # The default validator badge is fetched from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.get(f"{ASSETS_PATH}/{{name}}", response_model=None)
    async def swagger_asset(name: str) -> Response:
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise HTTPException(status_code=404)
        path = assets_dir / name
        if not path.is_file():
            return PlainTextResponse("接口文档资源未安装：请运行 make install", status_code=503)
        # The file names carry no version: a day's caching, revalidated by ETag after that.
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=86400"})

    return router
