"""Migration 0012: ``staff.officer_id``, an officer account's liaison officer."""

from __future__ import annotations

from alembic import command

from hub.store.db import Database
from hub.store.migrate import alembic_config, upgrade_sync
from hub.store.schema_version import current_revision, head_revision
from tests.store.test_visits_schema import _execute, fresh_url  # noqa: F401 (a fixture)

_AT = "'2027-01-04 02:00:00'"


def _staff(username: str, role: str) -> str:
    return (
        "INSERT INTO staff (username, name, role, absent, failed_logins, created_at, updated_at)"
        f" VALUES ('{username}', '某', '{role}', false, 0, {_AT}, {_AT})"
    )


async def test_0012_links_officer_accounts_named_by_their_code_and_goes_down_again(
    fresh_url: str,  # noqa: F811 (the fixture imported above)
) -> None:
    upgrade_sync(fresh_url, "0011")
    await _execute(
        fresh_url,
        f"INSERT INTO officer (id, code, name, created_at, updated_at)"
        f" VALUES (7, 'LL001', '李明', {_AT}, {_AT})",
        _staff("ll001", "officer"),  # the visits page's old rule: username == code
        _staff("demo-officer", "officer"),  # no officer's code: stays unlinked (sees nothing)
        _staff("LL001x", "viewer"),
    )
    upgrade_sync(fresh_url)
    linked = dict(await _execute(fresh_url, "SELECT username, officer_id FROM staff"))
    assert linked == {"LL001x": None, "demo-officer": None, "ll001": 7}
    command.downgrade(alembic_config(fresh_url), "0011")
    assert len(await _execute(fresh_url, "SELECT username FROM staff")) == 3
    upgrade_sync(fresh_url)
    db = Database.open(fresh_url)
    try:
        assert await current_revision(db) == head_revision()
    finally:
        await db.aclose()
