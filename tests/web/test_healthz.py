"""GET /healthz reports the database and Redis, through the ASGI app (no socket)."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.store.db import Database
from hub.web.app import create_app


async def get(app: object, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        return await client.get(path)


async def test_healthz_is_200_when_both_answer(db: Database, redis_client: Redis) -> None:
    response = await get(create_app(db, redis_client, metrics=CollectorRegistry()), "/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["dialect"] == "sqlite"
    assert body["redis"]["version"]


async def test_healthz_is_503_when_redis_is_down(db: Database) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    try:
        response = await get(create_app(db, dead, metrics=CollectorRegistry()), "/healthz")
    finally:
        await dead.aclose()
    assert response.status_code == 503
    assert response.json()["redis"]["status"] == "down"
    assert response.json()["database"]["status"] == "ok"


async def test_healthz_is_503_when_the_database_is_down(redis_client: Redis) -> None:
    dead = Database.open("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        response = await get(
            create_app(dead, redis_client, metrics=CollectorRegistry()), "/healthz"
        )
    finally:
        await dead.aclose()
    assert response.status_code == 503
    assert response.json()["database"]["status"] == "error"


async def test_openapi_is_served(db: Database, redis_client: Redis) -> None:
    response = await get(create_app(db, redis_client, metrics=CollectorRegistry()), "/openapi.json")
    assert response.status_code == 200
    assert "/healthz" in response.json()["paths"]
