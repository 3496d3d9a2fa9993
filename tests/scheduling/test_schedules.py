"""Schedule files -> ScheduleSpec (weekday names, errors with file/key/line) -> versioned rows."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import structlog
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from hub.app.config import load_settings
from hub.cli import app, common, main
from hub.cli import schedules as schedules_cli
from hub.core.clock import FixedClock
from hub.core.errors import ConfigError
from hub.core.vocab import ChannelName, MessageKind
from hub.importing.data_rows import PolicyRow
from hub.importing.data_save import save_rows
from hub.scheduling.schedule_store import stored_schedules, sync_schedules
from hub.scheduling.schedules import (
    ScheduleSpec,
    latest_fire_time,
    load_schedule_file,
    load_schedules,
    next_fire_times,
    parse_spec,
)
from hub.store.db import Database
from hub.store.models import Schedule, ScheduleVersion
from tests.seed import seed_registry

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The shipped schedules these tests follow; the seed programs' own schedules ship beside them
#: and are tested with their programs (tests/scheduling/programs).
FOLLOWED = ("policy_push", "procedure_reminder")
SHANGHAI = ZoneInfo("Asia/Shanghai")
SUNDAY_NOON = datetime(2026, 11, 22, 12, 0, tzinfo=SHANGHAI)


def spec(cron: str = "0 9 * * mon", **overrides: object) -> ScheduleSpec:
    data: dict[str, object] = {"cron": cron, "audience": "tier=key", "kind": "policy_push"}
    data.update(overrides)
    return parse_spec(data, default_name="weekly", file="test.yaml")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped schedules ------------------------------------------------------------------


def test_the_shipped_schedules_load_and_their_kinds_have_templates() -> None:
    specs = [s for s in load_schedules(PROJECT_ROOT / "schedules") if s.name in FOLLOWED]
    assert [s.name for s in specs] == ["policy_push", "procedure_reminder"]
    policies, weekly = specs
    assert (policies.cron, policies.kind, policies.audience) == (
        "0 9 * * *",
        MessageKind.POLICY_PUSH,
        "all",  # policy_match: each policy's eligibility picks the enterprises
    )
    assert (weekly.cron, weekly.program, weekly.workdays_only) == (
        "0 9 * * *",
        "procedure_reminders",
        True,
    )
    for s in specs:  # each kind ships a template every channel can fall back to
        assert (PROJECT_ROOT / "templates" / s.kind.value / "default.j2").is_file()
    assert next_fire_times(policies, SUNDAY_NOON, 2) == [
        datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI),
        datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI),
    ]


# --- weekdays: names, never numbers -----------------------------------------------------------


def test_mon_fires_on_monday_from_a_known_sunday() -> None:
    times = next_fire_times(spec("0 9 * * mon"), SUNDAY_NOON, 3)
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    assert times == [monday + timedelta(weeks=i) for i in range(3)]
    assert {t.weekday() for t in times} == {0}
    assert times[0].utcoffset() == timedelta(hours=8)


def test_the_numeric_weekday_trap_is_real_in_apscheduler() -> None:
    # crontab reads "1" as Monday; APScheduler 3.x reads it as Tuesday. This is why numbers
    # are refused: the same line would fire a day late.
    trigger = CronTrigger.from_crontab("0 9 * * 1", timezone=SHANGHAI)
    fire = trigger.get_next_fire_time(None, SUNDAY_NOON)
    assert fire == datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
    assert fire.strftime("%a") == "Tue"


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("0 9 * * mon-fri", datetime(2026, 11, 27, 18, 0), datetime(2026, 11, 30, 9, 0)),
        ("0 9 * * mon,wed", datetime(2026, 11, 23, 10, 0), datetime(2026, 11, 25, 9, 0)),
        ("0 9 * * sun", SUNDAY_NOON.replace(tzinfo=None), datetime(2026, 11, 29, 9, 0)),
        ("30 8 1-7 * mon", datetime(2026, 11, 22, 0, 0), datetime(2026, 12, 7, 8, 30)),
        ("0 9 * * SAT", datetime(2026, 11, 23, 0, 0), datetime(2026, 11, 28, 9, 0)),
    ],
)
def test_weekday_names_ranges_and_lists(cron: str, after: datetime, expected: datetime) -> None:
    first = next_fire_times(spec(cron), after.replace(tzinfo=SHANGHAI), 1)[0]
    assert first == expected.replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize("weekday", ["1", "0", "1-5", "mon,3", "*/2", "7"])
def test_a_numeric_weekday_is_refused_with_the_reason(weekday: str) -> None:
    with pytest.raises(ConfigError) as caught:
        spec(f"0 9 * * {weekday}")
    error = caught.value
    assert error.key == "cron"
    assert "APScheduler 把 0 当作星期一" in error.reason
    assert "crontab 把 0 当作星期日" in error.reason
    assert "mon-fri" in error.reason


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("0 9 * *", "应有 5 个字段"),
        ("0 9 * * * *", "应有 5 个字段"),
        ("0 25 * * mon", "无效"),
        ("0 9 * * monday", "应写作"),
        ("0 9 * * fri-mon", "无效"),
    ],
)
def test_other_bad_crons_are_refused(cron: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        spec(cron)


# --- the other keys --------------------------------------------------------------------------


def test_defaults_and_optional_keys() -> None:
    s = spec()
    assert s.name == "weekly"
    assert s.timezone == "Asia/Shanghai"
    assert s.program == "campaign"
    assert s.channels == ()
    assert s.channel is None
    assert s.enabled is True
    assert s.catch_up_grace == timedelta(hours=6)
    full = spec(
        name="credit_push",
        kind="政策推送",
        channels=["sms", "wechat"],
        variables={"policy": "稳岗补贴", "year": 2026, "free_apply": False},
        catch_up_grace="90m",
        enabled=False,
        timezone="Asia/Urumqi",
    )
    assert full.name == "credit_push"
    assert full.kind is MessageKind.POLICY_PUSH
    assert full.channel is ChannelName.SMS
    assert full.variables == {"policy": "稳岗补贴", "year": 2026, "free_apply": False}
    assert full.catch_up_grace == timedelta(minutes=90)
    assert full.to_json()["catch_up_grace"] == "90m"
    assert not full.enabled


def test_a_spec_survives_its_stored_json() -> None:
    original = spec(channels=["sms"], variables={"policy": "稳岗补贴"}, catch_up_grace="2h")
    again = parse_spec(original.to_json(), default_name="weekly", file="db", enabled=True)
    assert again == original


def test_errors_name_the_file_the_key_and_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad",
        "cron: '0 9 * * mon'\n"
        "timezone: Mars/Olympus\n"
        "audience: tier=huge\n"
        "kind: policy_push\n"
        "colour: red\n"
        "channels: [sms, fax]\n"
        "variables:\n"
        "  enterprise: 冒名\n"
        "  steps: [a, b]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_schedule_file(path)
    problems = [caught.value, *caught.value.others]
    found = {(p.key, p.line) for p in problems}
    assert found == {
        ("colour", 5),
        ("timezone", 2),
        ("audience", 3),
        ("channels.1", 6),
        ("variables.enterprise", 8),
        ("variables.steps", 9),
    }
    assert all(p.file == str(path) for p in problems)
    assert str(caught.value).startswith(f"{path}:5: colour: 未知的配置项")
    audience = next(p for p in problems if p.key == "audience")
    assert "tier=huge" in audience.reason


def test_missing_keys_and_bad_values(tmp_path: Path) -> None:
    path = write(tmp_path, "Bad Name", "program: report\ncatch_up_grace: soon\nenabled: yes-ish\n")
    with pytest.raises(ConfigError) as caught:
        load_schedule_file(path)
    keys = {p.key for p in (caught.value, *caught.value.others)}
    assert keys == {"name", "cron", "program", "audience", "kind", "catch_up_grace", "enabled"}


def test_a_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken", "cron: '0 9 * * mon'\naudience: [tier=key\nkind: notice\n")
    with pytest.raises(ConfigError, match="YAML") as caught:
        load_schedule_file(path)
    assert caught.value.line is not None
    assert caught.value.line >= 2


def test_two_files_with_one_name_are_refused(tmp_path: Path) -> None:
    body = "cron: '0 9 * * mon'\naudience: all\nkind: notice\n"
    write(tmp_path, "a", "name: same\n" + body)
    write(tmp_path, "b", "name: same\n" + body)
    with pytest.raises(ConfigError, match="重复"):
        load_schedules(tmp_path)


# --- syncing into the database ----------------------------------------------------------------


async def versions(db: Database) -> dict[str, list[int]]:
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(Schedule.name, ScheduleVersion.version)
                .join(ScheduleVersion, ScheduleVersion.schedule_id == Schedule.id)
                .order_by(Schedule.name, ScheduleVersion.version)
            )
        ).all()
    result: dict[str, list[int]] = {}
    for name, version in rows:
        result.setdefault(name, []).append(version)
    return result


async def test_sync_creates_versions_once_and_only_for_changes(
    any_db: Database, clock: FixedClock
) -> None:
    shipped = [s for s in load_schedules(PROJECT_ROOT / "schedules") if s.name in FOLLOWED]
    first = await sync_schedules(any_db, shipped, clock, actor="test")
    assert first.created == ("policy_push", "procedure_reminder")
    again = await sync_schedules(any_db, shipped, clock, actor="test")
    assert (again.created, again.updated) == ((), ())
    assert again.unchanged == ("policy_push", "procedure_reminder")
    assert await versions(any_db) == {"policy_push": [1], "procedure_reminder": [1]}

    clock.advance(timedelta(days=1))
    edited = [dataclasses.replace(shipped[0], cron="0 10 1 * *"), shipped[1]]
    report = await sync_schedules(any_db, edited, clock, actor="admin")
    assert (report.updated, report.unchanged) == (("policy_push",), ("procedure_reminder",))
    assert await versions(any_db) == {"policy_push": [1, 2], "procedure_reminder": [1]}
    assert (await sync_schedules(any_db, edited, clock, actor="admin")).updated == ()

    stored = {s.spec.name: s for s in await stored_schedules(any_db)}
    assert stored["policy_push"].version == 2
    assert stored["policy_push"].spec == edited[0]
    assert stored["policy_push"].version_created_at == clock.now()
    assert stored["procedure_reminder"].spec == shipped[1]


async def test_switching_enabled_makes_no_new_version(any_db: Database, clock: FixedClock) -> None:
    weekly = spec()
    await sync_schedules(any_db, [weekly], clock, actor="test")
    report = await sync_schedules(
        any_db, [dataclasses.replace(weekly, enabled=False)], clock, actor="test"
    )
    assert report.updated == ("weekly",)
    assert await versions(any_db) == {"weekly": [1]}
    [stored] = await stored_schedules(any_db)
    assert stored.spec.enabled is False


async def test_schedules_only_in_the_database_are_left_alone(
    any_db: Database, clock: FixedClock
) -> None:
    await sync_schedules(any_db, [spec(name="admin_made")], clock, actor="admin")
    await sync_schedules(any_db, load_schedules(PROJECT_ROOT / "schedules"), clock, actor="cli")
    assert {"admin_made", *FOLLOWED} <= set(await versions(any_db))


async def test_seeding_never_overwrites_an_admins_edit(any_db: Database, clock: FixedClock) -> None:
    weekly = spec()
    await sync_schedules(any_db, [dataclasses.replace(weekly, cron="0 8 * * tue")], clock, "admin")
    report = await sync_schedules(any_db, [weekly], clock, actor="start", update_existing=False)
    assert report.skipped == ("weekly",)
    [stored] = await stored_schedules(any_db)
    assert stored.spec.cron == "0 8 * * tue"


async def test_a_stored_version_that_no_longer_validates_is_named(
    any_db: Database, clock: FixedClock
) -> None:
    await sync_schedules(any_db, [spec(name="good"), spec(name="hand_edited")], clock, "test")
    async with any_db.write() as session:
        await session.execute(
            sa.update(ScheduleVersion)
            .where(ScheduleVersion.schedule_id == Schedule.id, Schedule.name == "hand_edited")
            .values(spec={"cron": "0 9 * * 1", "audience": "all", "kind": "notice"})
        )
    with pytest.raises(ConfigError, match=r"schedule_version\(hand_edited v1\)"):
        await stored_schedules(any_db)
    skipped: list[str] = []
    found = await stored_schedules(any_db, on_invalid=lambda name, _: skipped.append(name))
    assert [s.spec.name for s in found] == ["good"]
    assert skipped == ["hand_edited"]


@pytest.mark.parametrize(
    ("cron", "now", "not_before", "expected"),
    [
        ("* * * * *", (23, 10, 7, 30), (23, 4, 0, 0), (23, 10, 7, 0)),
        ("0 9 * * *", (23, 10, 0, 0), (23, 4, 0, 0), (23, 9, 0, 0)),
        ("0 9 * * *", (23, 9, 0, 0), (23, 9, 0, 0), (23, 9, 0, 0)),  # both ends included
        ("0 9 * * *", (23, 8, 59, 59), (22, 9, 0, 1), None),
        ("0 9 1 * *", (23, 10, 0, 0), (1, 0, 0, 0), (1, 9, 0, 0)),
    ],
)
def test_latest_fire_time_looks_back_only_as_far_as_asked(
    cron: str,
    now: tuple[int, int, int, int],
    not_before: tuple[int, int, int, int],
    expected: tuple[int, int, int, int] | None,
) -> None:
    def t(day: int, hour: int, minute: int, second: int) -> datetime:
        return datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI)

    found = latest_fire_time(spec(cron), t(*now), not_before=t(*not_before))
    assert found == (t(*expected) if expected else None)


def test_fire_times_are_utc_aware_for_the_database() -> None:
    [fire] = next_fire_times(spec("0 9 * * mon"), SUNDAY_NOON, 1)
    assert fire.astimezone(UTC) == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


# --- the CLI -----------------------------------------------------------------------------------

if not any(group.name == "schedules" for group in app.registered_groups):
    schedules_cli.register(app)  # until hub/cli/__init__.py registers it


@pytest.fixture(autouse=True)
def _logs_to_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep structlog off the stream capsys closes after each test.

    The CLI configures structlog with the stderr of that moment and caches loggers on first
    use; in a test that is capsys's stream, closed when the test ends, and a module's cached
    logger (hub.scheduling.scheduler's) would then fail in every later test.
    """
    real = common.configure_logging

    def configure(level: str = "INFO", **options: Any) -> None:
        real(level, **options)
        structlog.configure(
            logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
            cache_logger_on_first_use=False,
        )

    monkeypatch.setattr(common, "configure_logging", configure)
    yield
    structlog.reset_defaults()


@pytest.fixture
def config(write_config: Callable[..., Path], tmp_path: Path) -> Path:
    """A config whose schedules/ folder (beside it) holds the shipped schedules."""
    path = write_config()
    shutil.copytree(PROJECT_ROOT / "schedules", tmp_path / "schedules", ignore=lambda _, names: [
        n for n in names if n.endswith(".yaml") and n.removesuffix(".yaml") not in FOLLOWED
    ])  # fmt: skip
    return path


def hub_cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def cli_json(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> Any:
    capsys.readouterr()
    assert hub_cli(config, *args, "--json") == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


async def _seed(config: Path) -> None:
    db = Database.open(load_settings(config).database_url)
    try:
        await seed_registry(db)
        async with db.write() as session:  # one policy for 甲机械, what policy_push sends
            await save_rows(session, "policies", [POLICY], {}, now=datetime.now(UTC),
                            actor="test", source="test")  # fmt: skip
    finally:
        await db.aclose()


POLICY = PolicyRow(1, "ZC-01", "2026年度技改补贴", "", None, None, False, None,
                   ("制造业",), (), (), (), (), "")  # fmt: skip


def test_cli_sync_list_next_and_run(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synced = cli_json(capsys, config, "schedules", "sync")
    assert synced["created"] == ["policy_push", "procedure_reminder"]
    assert synced["folder"] == str(config.parent / "schedules")
    assert cli_json(capsys, config, "schedules", "sync")["unchanged"] == synced["created"]

    listed = cli_json(capsys, config, "schedules", "list")
    assert [(i["name"], i["version"], i["enabled"]) for i in listed] == [
        ("policy_push", 1, True),
        ("procedure_reminder", 1, True),
    ]
    assert all(i["next_fire_time"].endswith("+08:00") for i in listed)
    assert listed[1]["next_fire_time"][11:] == "09:00:00+08:00"
    assert listed[0]["last_status"] is None

    after = "2026-11-22T12:00"  # a Sunday noon in Shanghai
    assert cli_json(
        capsys, config, "schedules", "next", "procedure_reminder", "-n", "2", "--after", after
    ) == ["2026-11-23T09:00:00+08:00", "2026-11-24T09:00:00+08:00"]

    asyncio.run(_seed(config))
    fire = ("schedules", "run", "policy_push", "--fire-time", "2026-12-01T09:00")
    ran = cli_json(capsys, config, *fire)
    assert (ran["ran"], ran["status"], ran["messages_created"]) == (True, "done", 1)
    assert ran["fire_time"] == "2026-12-01T09:00:00+08:00"
    again = cli_json(capsys, config, *fire)
    assert (again["ran"], again["run_id"], again["messages_created"]) == (False, ran["run_id"], 0)
    assert again["campaign_id"] == ran["campaign_id"]

    listed = cli_json(capsys, config, "schedules", "list")
    assert (listed[0]["last_fire_time"], listed[0]["last_status"]) == (
        "2026-12-01T09:00:00+08:00",
        "done",
    )
    capsys.readouterr()
    assert hub_cli(config, "schedules", "list") == 0
    assert "定时计划" in capsys.readouterr().out


def test_cli_sync_of_a_bad_file_exits_2_naming_file_key_and_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(config.parent / "schedules", "monday", "cron: '0 9 * * 1'\naudience: all\n")
    capsys.readouterr()
    assert hub_cli(config, "schedules", "sync") == 2
    error = capsys.readouterr().err
    assert f"{bad}:1: cron:" in error
    assert "APScheduler" in error
    assert f"{bad}: kind:" in error  # the missing key has no line of its own


def test_cli_names_an_unknown_schedule_and_a_bad_time(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub_cli(config, "schedules", "next", "nope") == 2
    assert "没有名为 nope 的计划" in capsys.readouterr().err
    assert hub_cli(config, "schedules", "sync") == 0
    assert hub_cli(config, "schedules", "run", "policy_push", "--fire-time", "tomorrow") == 2
    assert "ISO 8601" in capsys.readouterr().err


def test_cli_run_that_reaches_nobody_says_no_campaign_was_made(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub_cli(config, "schedules", "sync") == 0  # an empty registry: nobody matches
    capsys.readouterr()
    fire = ("schedules", "run", "policy_push", "--fire-time", "2026-12-01T09:00")
    assert hub_cli(config, *fire) == 0
    said = capsys.readouterr().out
    assert "未建批次" in said
    assert "#None" not in said
