"""``/api/v1`` credentials: missing, unknown, revoked and rotated tokens, roles, ``/me``."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.store.models import Staff
from hub.tickets.staff import revoke_token
from tests.web.api_support import World, api_client, seed_world

UNAUTHENTICATED = {"error": "需要登录凭证", "code": "unauthenticated"}
FORBIDDEN = {"error": "无权访问", "code": "forbidden"}


@pytest.fixture
async def world(db: Database, clock: FixedClock, tmp_path: Path) -> World:
    return await seed_world(db, clock, tmp_path)


@pytest.fixture
async def client(db: Database, clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(db, clock) as client:
        yield client


@pytest.mark.parametrize(
    "path", ["/api/v1/me", "/api/v1/replies", "/api/v1/replies/1", "/api/v1/messages"]
)
async def test_no_token_is_401_with_a_chinese_error(
    world: World, client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_credential_of_another_scheme_is_no_credential(
    world: World, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})

    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


@pytest.mark.parametrize(
    "token", ["hub_" + "A" * 43, "not-a-hub-token", "hub_"], ids=["unknown", "foreign", "empty"]
)
async def test_an_unknown_token_is_401(world: World, client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


async def test_a_revoked_token_is_401(
    world: World, client: httpx.AsyncClient, db: Database, clock: FixedClock
) -> None:
    assert (await client.get("/api/v1/me", headers=world.auth("gxj_viewer"))).status_code == 200

    assert await revoke_token(db, clock, "gxj_viewer", actor="test") is True

    response = await client.get("/api/v1/me", headers=world.auth("gxj_viewer"))
    assert response.status_code == 401
    assert response.json() == {"error": "登录凭证无效或已撤销", "code": "unauthenticated"}


async def test_the_x_hub_token_header_is_accepted(world: World, client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me", headers={"X-Hub-Token": world.tokens["admin"]})

    assert response.status_code == 200
    assert response.json()["username"] == "admin"


async def test_me_names_the_staff_member_role_and_scope(
    world: World, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/me", headers=world.auth("gxj_jianhua_viewer"))

    assert response.status_code == 200
    me = response.json()
    assert me["username"] == "gxj_jianhua_viewer"
    assert (me["role"], me["role_label"]) == ("viewer", "查看者")
    assert me["department"]["code"] == "GXJ"
    assert me["district"] == "建华区"
    assert me["scope"] == {
        "industries": ["信息传输、软件和信息技术服务业", "制造业"],
        "region": "建华区",
        "full_addresses": False,
        "officer": None,
    }


async def test_admin_and_business_office_dispatcher_are_not_limited(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = (await client.get("/api/v1/me", headers=world.auth("admin"))).json()
    office = (await client.get("/api/v1/me", headers=world.auth("ysb_dispatcher"))).json()

    unlimited = {"industries": None, "region": None, "full_addresses": True, "officer": None}
    assert admin["scope"] == unlimited
    assert office["department"]["code"] == "YSB"
    assert office["scope"] == unlimited


@pytest.mark.parametrize("username", ["dispatcher", "gxj_head", "swj_handler", "gxj_viewer"])
async def test_a_role_the_route_does_not_allow_is_403(
    world: World, client: httpx.AsyncClient, username: str
) -> None:
    response = await client.get("/api/v1/staff", headers=world.auth(username))

    assert response.status_code == 403
    assert response.json() == FORBIDDEN


async def test_admins_list_staff_without_their_tokens(
    world: World, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/staff", headers=world.auth("admin"))

    assert response.status_code == 200
    listed = {s["username"]: s for s in response.json()}
    assert listed["swj_handler"] == {
        "id": listed["swj_handler"]["id"], "username": "swj_handler", "name": "swj_handler姓名",
        "role": "handler", "role_label": "承办人", "department": "SWJ", "district": None,
        "absent": False, "has_token": True,
    }  # fmt: skip
    assert all(token not in response.text for token in world.tokens.values())


async def test_a_stored_role_the_hub_does_not_know_is_403_everywhere(
    world: World, client: httpx.AsyncClient, db: Database
) -> None:
    async with db.write() as session:
        await session.execute(
            sa.update(Staff).where(Staff.username == "gxj_viewer").values(role="intern")
        )

    for path in ("/api/v1/me", "/api/v1/replies", "/api/v1/messages"):
        response = await client.get(path, headers=world.auth("gxj_viewer"))
        assert response.status_code == 403
        assert response.json() == FORBIDDEN


async def test_only_the_sha256_of_a_token_is_stored(world: World, db: Database) -> None:
    token = world.tokens["admin"]
    async with db.read() as session:
        stored = await session.scalar(sa.select(Staff.token_hash).where(Staff.username == "admin"))

    assert token.startswith("hub_")
    assert len(token) == len("hub_") + 43  # 32 bytes, URL-safe base64 without padding
    assert stored == hashlib.sha256(token.encode()).hexdigest()


async def test_a_bad_parameter_is_a_chinese_422(world: World, client: httpx.AsyncClient) -> None:
    bad_limit = await client.get("/api/v1/replies?limit=0", headers=world.auth("admin"))
    bad_channel = await client.get("/api/v1/replies?channel=fax", headers=world.auth("admin"))

    assert bad_limit.status_code == 422
    assert bad_limit.json()["code"] == "invalid"
    assert bad_limit.json()["error"].startswith("参数无效")
    assert bad_channel.status_code == 422
    assert "参数 channel 的值“fax”无效" in bad_channel.json()["error"]


async def test_a_bad_parameter_without_a_token_is_still_401(
    world: World, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/replies?limit=0")

    assert response.status_code == 401


async def test_openapi_documents_the_routes_and_both_token_schemes(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    assert {"/api/v1/me", "/api/v1/replies", "/api/v1/replies/{reply_id}", "/api/v1/messages",
            "/api/v1/messages/{message_id}", "/api/v1/staff"} <= set(document["paths"])  # fmt: skip
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyHeader"]["name"] == "X-Hub-Token"
