"""GET /api/docs works without the internet: Swagger UI's assets come from the hub itself."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.store.db import Database
from hub.web.app import create_app
from hub.web.docs import docs_router

_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://hub")


async def test_docs_page_loads_every_asset_from_the_hub(db: Database, redis_client: Redis) -> None:
    async with _client(create_app(db, redis_client, metrics=CollectorRegistry())) as client:
        page = await client.get("/api/docs")
        assert page.status_code == 200
        html = page.text
        assert not re.search(r"(?:https?:)?//", html), "the page names another host"
        referenced = [a or b for a, b in _URL.findall(html)]
        assets = [url for url in referenced if url != "/openapi.json"]
        assert {url.rsplit(".", 1)[-1] for url in assets} >= {"js", "css"}
        for url in referenced:
            response = await client.get(url)
            assert response.status_code == 200, url
            assert response.content, url


async def test_swagger_bundle_is_version_5_which_renders_openapi_3_1(
    db: Database, redis_client: Redis
) -> None:
    async with _client(create_app(db, redis_client, metrics=CollectorRegistry())) as client:
        spec = (await client.get("/openapi.json")).json()
        bundle = await client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert spec["openapi"].startswith("3.1")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in bundle.text


async def test_only_the_listed_assets_are_served(db: Database, redis_client: Redis) -> None:
    async with _client(create_app(db, redis_client, metrics=CollectorRegistry())) as client:
        assert (await client.get("/api/docs/assets/package.json")).status_code == 404
        assert (await client.get("/api/docs/assets/..%2F..%2Fpyproject.toml")).status_code == 404


async def test_missing_assets_say_how_to_install_them(tmp_path: Path) -> None:
    from fastapi import FastAPI

    app = FastAPI(docs_url=None)
    app.include_router(docs_router(openapi_url="/openapi.json", title="Hub", assets_dir=tmp_path))
    async with _client(app) as client:
        page = await client.get("/api/docs")
        asset = await client.get("/api/docs/assets/swagger-ui.css")
    assert page.status_code == 503
    assert "make install" in page.text
    assert asset.status_code == 503
