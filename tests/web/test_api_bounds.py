"""What schemathesis found in ``/api/v1``, each pinned: ids beyond 64 bits, 405 ``Allow``, bodies
that are not JSON, numbers taken for times or integers, a second malicious flag, undocumented 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from hub.app.config import Settings
from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.store.models import Rating
from hub.tickets.desk import TicketDesk
from hub.tickets.staff import issue_token
from hub.web.api import router
from tests.ticket_support import TicketWorld, new_ticket, seed_ticket_world, sh

NOW = sh(2026, 11, 23, 10)
BEYOND_64_BITS = "99999999999999999999999"


@pytest.fixture
async def world(db: Database) -> TicketWorld:
    return await seed_ticket_world(db)


@pytest.fixture
async def admin(db: Database, world: TicketWorld) -> dict[str, str]:
    token = await issue_token(db, FixedClock(NOW), "admin", actor="test")
    return {"Authorization": f"Bearer {token}"}


def _app(db: Database) -> FastAPI:
    clock = FixedClock(NOW)
    app = FastAPI()
    app.include_router(router(db, clock, ticket_desk=TicketDesk(db, Settings(), clock)))
    return app


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(db))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        yield http


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"/api/v1/messages/{BEYOND_64_BITS}"),
        ("GET", f"/api/v1/replies/{BEYOND_64_BITS}"),
        ("GET", f"/api/v1/replies?before={2**63}"),
        ("GET", f"/api/v1/messages?before={2**63}"),
        ("GET", f"/api/v1/messages?campaign={2**63}"),
        ("GET", f"/api/v1/tickets?before={2**63}"),
        ("POST", f"/api/v1/ratings/{BEYOND_64_BITS}/flag-malicious"),
    ],
)
async def test_an_id_beyond_64_bits_is_refused_not_a_server_error(
    client: httpx.AsyncClient, admin: dict[str, str], method: str, url: str
) -> None:
    response = await client.request(method, url, headers=admin, json={"reason": "恶意"})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid"


async def test_the_largest_64_bit_id_is_looked_up(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get(f"/api/v1/messages/{2**63 - 1}", headers=admin)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/calendar/2027", "/api/v1/ticket-rules"])
async def test_a_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, admin: dict[str, str], path: str
) -> None:
    response = await client.delete(path, headers=admin)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT"
    assert response.json() == {"error": "不支持 DELETE 方法", "code": "method_not_allowed"}


async def test_a_body_that_is_not_utf8_is_a_422_in_the_api_shape(
    client: httpx.AsyncClient, admin: dict[str, str], db: Database, world: TicketWorld
) -> None:
    ticket = await new_ticket(db, world, at=NOW)
    response = await client.post(
        f"/api/v1/tickets/{ticket.number}/resolve",
        headers={**admin, "Content-Type": "application/json"},
        content=b"\xff\xfe\x00",
    )
    assert response.status_code == 422
    assert response.json() == {"error": "请求体无法解析：应为 UTF-8 编码的 JSON", "code": "invalid"}


async def test_since_is_a_time_not_a_number(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    refused = await client.get("/api/v1/replies?since=0.5", headers=admin)
    assert refused.status_code == 422
    assert "ISO 8601" in refused.json()["error"]
    local = await client.get("/api/v1/replies?since=2026-11-23T08:00:00", headers=admin)
    assert local.status_code == 200


async def test_an_integer_in_a_body_is_a_json_number(
    client: httpx.AsyncClient, admin: dict[str, str], db: Database, world: TicketWorld
) -> None:
    flag = await client.put(
        "/api/v1/deadline-classes", headers=admin, json={"classes": {"urgent": True}}
    )
    assert flag.status_code == 422
    text = await client.put(
        "/api/v1/deadline-classes", headers=admin, json={"classes": {"urgent": "3"}}
    )
    assert text.status_code == 422
    whole = await client.put(
        "/api/v1/deadline-classes", headers=admin, json={"classes": {"紧急": 3.0}}
    )
    assert whole.status_code == 200, whole.text
    assert whole.json()["classes"]["urgent"] == 3
    ticket = await new_ticket(db, world, at=NOW)
    extend = await client.post(
        f"/api/v1/tickets/{ticket.number}/extend",
        headers=admin,
        json={"days": True, "reason": "需现场核实"},
    )
    assert extend.status_code == 422


async def test_flagging_a_rating_twice_is_a_conflict(
    client: httpx.AsyncClient, admin: dict[str, str], db: Database, world: TicketWorld
) -> None:
    ticket = await new_ticket(db, world, at=NOW - timedelta(days=2))
    async with db.write() as session:
        rating = Rating(ticket_id=ticket.id, contact_id=ticket.contact_id, score=1,
                        at=NOW - timedelta(days=1), malicious=False)  # fmt: skip
        session.add(rating)
        await session.flush()
        rating_id = rating.id
    url = f"/api/v1/ratings/{rating_id}/flag-malicious"
    first = await client.post(url, headers=admin, json={"reason": "与办理无关"})
    assert first.status_code == 200, first.text
    again = await client.post(url, headers=admin, json={"reason": "与办理无关"})
    assert again.status_code == 409
    assert again.json() == {"error": f"评价 {rating_id} 已于此前标记为恶意差评", "code": "conflict"}


def test_the_schema_documents_404_and_bounds_ids(db: Database) -> None:
    paths = _app(db).openapi()["paths"]
    for path, method in [
        ("/api/v1/messages/{message_id}", "get"),
        ("/api/v1/replies/{reply_id}", "get"),
        ("/api/v1/ratings/{rating_id}/flag-malicious", "post"),
    ]:
        operation = paths[path][method]
        assert "404" in operation["responses"], path
        [id_param] = [p for p in operation["parameters"] if p["in"] == "path"]
        assert (id_param["schema"]["minimum"], id_param["schema"]["maximum"]) == (1, 2**63 - 1)


async def test_transferring_a_ticket_to_its_own_department_is_a_conflict(
    client: httpx.AsyncClient, admin: dict[str, str], db: Database, world: TicketWorld
) -> None:
    ticket = await new_ticket(db, world, at=NOW)
    shown = await client.get(f"/api/v1/tickets/{ticket.number}", headers=admin)
    own = shown.json()["department"]["code"]
    response = await client.post(
        f"/api/v1/tickets/{ticket.number}/transfer",
        headers=admin,
        json={"department": own, "reason": "重新分派"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert "无需转办" in response.json()["error"]
