"""Schedules: ``schedules/<name>.yaml`` -> validated :class:`ScheduleSpec` -> versioned rows.

A schedule file says *when* (a 5-field cron and a time zone) and *what* (a program:
``campaign``, an audience × a message kind, optional forced channels and template variables; or
a seed program of :data:`hub.scheduling.programs.PROGRAMS`, whose ``kind`` defaults to its first
and ``audience`` to ``all``)::

    cron: "0 9 * * mon"          # minute hour day month day_of_week
    timezone: Asia/Shanghai
    program: campaign
    audience: tier=key
    kind: procedure_reminder
    channels: [sms]
    catch_up_grace: 6h
    workdays_only: false         # default: true for seed programs, false for campaign

``workdays_only: true``: a fire on a day off of the working-day calendar sends nothing that day;
its messages are held until the next working day's morning (hub.scheduling.programs.base).

Weekdays are written as names (``mon``–``sun``, ``mon-fri``, ``mon,wed``). A number is refused:
APScheduler 3.x counts 0 as Monday where crontab counts 0 as Sunday, so ``0 9 * * 1`` would fire
on Tuesdays. When both day and day_of_week are restricted, APScheduler requires both to match
(``1-7 * mon`` is the first Monday of the month), unlike crontab's "either".

The files are the seeds and the import/export format; the database holds the schedules the hub
runs (docs/design.md): :func:`hub.scheduling.schedule_store.sync_schedules` stores a new version
only when a spec changed. The same mapping shape is stored as the version's JSON, and read back
through the same validation. Every problem names the file, the key and the line (as config.yaml's
errors do). Given what the templates need (:func:`template_needs`), a schedule whose template
needs a variable that neither its program nor its ``variables:`` supplies is refused too, and a
seed program checks its own variables (``Program.check_variables``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from hub.core.errors import AudienceError, ConfigError
from hub.core.vocab import ChannelName, MessageKind
from hub.outbound.audience import Audience, parse_audience
from hub.rendering.template_spec import STANDARD_VARIABLES, TemplateSpec
from hub.scheduling.programs import PROGRAMS
from hub.scheduling.programs.base import read_yaml_mapping
from hub.scheduling.settings import ConfigFile

_PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
DEFAULT_CATCH_UP_GRACE: Final = timedelta(hours=6)
CAMPAIGN: Final = "campaign"
KEYS: Final = (
    "name", "description", "cron", "timezone", "program", "audience", "kind", "channels",
    "enabled", "variables", "catch_up_grace", "workdays_only",
)  # fmt: skip
# The outbox puts these into every template's context; a schedule variable of the same name
# would be silently overridden, so it is refused instead.
RESERVED_VARIABLES: Final = frozenset(
    {"hub_name", "enterprise", "contact", "officer_name", "officer_mobile"}
)
# Campaign.trigger is 64 characters: "schedule:" + the name must fit.
_NAME: Final = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")
_WEEKDAY_TERM: Final = re.compile(r"^\*$|^[a-z]{3}(-[a-z]{3})?$")
_DURATION: Final = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS: Final = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}

# Template variables keep their YAML type: a template's ``{% if free_apply %}`` must see the
# boolean false, not the (truthy) text "false".
Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """One validated schedule: when it fires and what a fire sends.

    Build it with :func:`parse_spec` (or :func:`load_schedule_file`); :meth:`to_json` is the
    shape stored in ``schedule_version.spec`` and written in the files. ``enabled`` is not part
    of a version: it is state of the schedule row, switched without editing what it does.
    """

    name: str
    cron: str
    kind: MessageKind
    audience: str
    timezone: str = DEFAULT_TIMEZONE
    program: str = "campaign"
    channels: tuple[ChannelName, ...] = ()
    enabled: bool = True
    variables: Mapping[str, Scalar] = field(default_factory=dict)
    catch_up_grace: timedelta = DEFAULT_CATCH_UP_GRACE
    description: str = ""
    #: A fire on a day off sends nothing that day: its messages wait for the next working day.
    workdays_only: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def channel(self) -> ChannelName | None:
        """The forced channel of a fire (the first listed), or None to let routing choose."""
        return self.channels[0] if self.channels else None

    def audience_expr(self) -> Audience:
        return parse_audience(self.audience)

    def trigger(self) -> CronTrigger:
        """APScheduler's trigger for this cron, in this schedule's zone."""
        return _cron_trigger(self.cron, self.tz)

    def to_json(self) -> dict[str, Any]:
        """The version's content (everything but name and enabled), canonical for comparing."""
        return {
            "description": self.description,
            "cron": self.cron,
            "timezone": self.timezone,
            "program": self.program,
            "audience": self.audience,
            "kind": self.kind.value,
            "channels": [c.value for c in self.channels],
            "variables": dict(sorted(self.variables.items())),
            "catch_up_grace": format_duration(self.catch_up_grace),
            # Only when it differs from the program's default: the versions stored before the
            # key existed compare equal to their files.
            **(
                {"workdays_only": self.workdays_only}
                if self.workdays_only != workdays_only_default(self.program)
                else {}
            ),
        }


def program_names() -> tuple[str, ...]:
    """The programs a schedule may name: ``campaign`` and the seed programs' table."""
    return (CAMPAIGN, *sorted(PROGRAMS))


def program_label(program: str) -> str:
    """A program's name on the admin pages (``campaign``: 群发); an unknown one as written."""
    if program == CAMPAIGN:
        return "群发"
    found = PROGRAMS.get(program)
    return found.label if found is not None else program


def workdays_only_default(program: str) -> bool:
    """``workdays_only`` when a schedule does not say: true for seed programs."""
    return program != CAMPAIGN


def next_fire_times(spec: ScheduleSpec, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``, in the schedule's zone."""
    trigger = spec.trigger()
    times: list[datetime] = []
    cursor = after
    while len(times) < count:
        # The trigger answers "first fire at or after"; cron fires on whole minutes, so one
        # second past the previous fire is "strictly after" it.
        found: datetime | None = trigger.get_next_fire_time(None, cursor + timedelta(seconds=1))
        if found is None:
            break
        times.append(found)
        cursor = found
    return times


def latest_fire_time(spec: ScheduleSpec, now: datetime, *, not_before: datetime) -> datetime | None:
    """The last fire time in ``[not_before, now]``, or None when there is none."""
    trigger = spec.trigger()
    # The trigger only searches forwards: look back over a window that doubles from one
    # minute, so an every-minute cron costs a step or two, not one per minute of the grace.
    span = timedelta(minutes=1)
    while True:
        start = max(not_before, now - span)
        latest: datetime | None = None
        candidate: datetime | None = trigger.get_next_fire_time(None, start)
        while candidate is not None and candidate <= now:
            latest = candidate
            candidate = trigger.get_next_fire_time(None, candidate + timedelta(seconds=1))
        if latest is not None or start <= not_before:
            return latest
        span *= 2


def format_duration(delta: timedelta) -> str:
    """``6h``, ``90m``, ``45s``: the largest unit that divides the duration exactly."""
    seconds = int(delta.total_seconds())
    for unit, size in _UNITS.items():
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable: 1 s divides every whole duration")


# --- parsing ---------------------------------------------------------------------------------


def schedules_folder(settings: ConfigFile) -> Path:
    """schedules/ beside config.yaml, else the one shipped with the project (as templates/)."""
    if settings.source is not None and (settings.source.parent / "schedules").is_dir():
        return settings.source.parent / "schedules"
    return _PROJECT_ROOT / "schedules"


#: Message kind -> the template variables a sender must supply (see :func:`template_needs`).
TemplateNeeds = Mapping[str, frozenset[str]]


def template_needs(templates: Iterable[TemplateSpec]) -> dict[str, frozenset[str]]:
    """Per message kind, the variables its templates need a value for: declared in meta.yaml as
    required and without a default (the standard variables the outbox always supplies aside)."""
    needs: dict[str, set[str]] = {}
    for template in templates:
        needs.setdefault(template.kind, set()).update(
            name
            for name, variable in template.variables.items()
            if variable.required and variable.default is None
        )
    return {kind: frozenset(names - STANDARD_VARIABLES) for kind, names in needs.items()}


def load_schedules(folder: Path, *, needs: TemplateNeeds | None = None) -> list[ScheduleSpec]:
    """Every ``*.yaml`` in ``folder``, sorted by name; ConfigError for any bad file.

    With ``needs``, a schedule whose templates would miss a variable is a bad file too.
    """
    specs: list[ScheduleSpec] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        spec = load_schedule_file(path, needs=needs)
        if spec.name in seen:
            raise ConfigError(
                f"计划名称 {spec.name} 与 {seen[spec.name].name} 重复", file=str(path), key="name"
            )
        seen[spec.name] = path
        specs.append(spec)
    return sorted(specs, key=lambda s: s.name)


def load_schedule_file(path: Path, *, needs: TemplateNeeds | None = None) -> ScheduleSpec:
    """Read one schedule file; the name is ``name:`` or else the file's stem."""
    data, lines = read_yaml_mapping(path, "计划文件")
    return parse_spec(data, default_name=path.stem, file=str(path), lines=lines, needs=needs)


def parse_spec(
    data: Mapping[str, Any],
    *,
    default_name: str,
    file: str,
    lines: Mapping[tuple[str, ...], int] | None = None,
    enabled: bool | None = None,
    needs: TemplateNeeds | None = None,
) -> ScheduleSpec:
    """Validate a schedule mapping (a file's, or a stored version's JSON).

    Every problem is collected; the ConfigError raised names the first and carries the rest
    in ``others``, so a clerk fixes a file in one go. ``enabled`` overrides the mapping's
    (a stored version does not hold it). ``needs`` (:func:`template_needs`): refuse a
    schedule whose templates need a variable nobody supplies.
    """
    problems = _Problems(file, lines or {})
    for key in data:
        if key not in KEYS:
            problems.add(str(key), f"未知的配置项 (unknown key)，可用：{'、'.join(KEYS)}")
    name = _text(data, "name", problems, default=default_name)
    if name is not None and not _NAME.fullmatch(name):
        problems.add("name", "名称只能用小写字母、数字、_ 和 -，以字母开头，最多 48 个字符")
    timezone = _timezone(data, problems)
    cron = _cron(data, problems, timezone)
    program = _text(data, "program", problems, default=CAMPAIGN)
    if program is not None and program not in program_names():
        problems.add("program", f"未知的程序 {program}，可用：{'、'.join(program_names())}")
        program = None
    seed = PROGRAMS.get(program or CAMPAIGN)
    audience = _audience(data, problems, default=None if seed is None else "all")
    kind = _kind(data, problems, allowed=None if seed is None else seed.kinds)
    workdays_only = data.get("workdays_only", workdays_only_default(program or CAMPAIGN))
    if not isinstance(workdays_only, bool):
        problems.add("workdays_only", "应为 true 或 false")
    channels = _channels(data, problems)
    variables = _variables(data, problems)
    if seed is not None and seed.check_variables is not None:
        _program_variables(seed.check_variables, variables, problems)
    if needs is not None and program is not None and kind is not None:
        _supplied(needs, program, kind, variables, problems)
    grace = _grace(data, problems)
    description = _text(data, "description", problems, default="")
    flag = data.get("enabled", True) if enabled is None else enabled
    if not isinstance(flag, bool):
        problems.add("enabled", "应为 true 或 false")
    problems.raise_if_any()
    # Every None above was reported, so raise_if_any has raised; these narrow the types.
    assert name is not None
    assert cron is not None
    assert timezone is not None
    assert program is not None
    assert audience is not None
    assert kind is not None
    assert grace is not None
    return ScheduleSpec(
        name=name, cron=cron, kind=kind, audience=audience, timezone=timezone, program=program,
        channels=channels, enabled=bool(flag), variables=MappingProxyType(variables),
        catch_up_grace=grace, workdays_only=bool(workdays_only),
        description=description or "",
    )  # fmt: skip


class _Problems:
    def __init__(self, file: str, lines: Mapping[tuple[str, ...], int]) -> None:
        self.file = file
        self.lines = lines
        self.errors: list[ConfigError] = []

    def add(self, key: str, reason: str, *path: str) -> None:
        line = self.lines.get((key, *path)) or self.lines.get((key,))
        dotted = ".".join((key, *path))
        self.errors.append(ConfigError(reason, file=self.file, key=dotted, line=line))

    def raise_if_any(self) -> None:
        if self.errors:
            first, *rest = self.errors
            first.others = rest
            raise first


def _text(
    data: Mapping[str, Any], key: str, problems: _Problems, *, default: str | None = None
) -> str | None:
    value = data.get(key, default)
    if value is None:
        problems.add(key, "缺少此项 (required)")
        return None
    if not isinstance(value, str):
        problems.add(key, "应为文本 (string)")
        return None
    return value.strip()


def _timezone(data: Mapping[str, Any], problems: _Problems) -> str | None:
    zone = _text(data, "timezone", problems, default=DEFAULT_TIMEZONE)
    if zone is None:
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add("timezone", f"未知的时区 {zone}，例如 Asia/Shanghai")
        return None
    return zone


def _cron(data: Mapping[str, Any], problems: _Problems, zone: str | None) -> str | None:
    cron = _text(data, "cron", problems)
    if cron is None:
        return None
    fields = cron.split()
    if len(fields) != 5:
        problems.add(
            "cron", f'应有 5 个字段（分 时 日 月 星期），例如 "0 9 * * mon"，实际 {len(fields)} 个'
        )
        return None
    terms = [t.split("/")[0].lower() for t in fields[4].split(",")]
    if any(ch.isdigit() for ch in fields[4]):
        problems.add(
            "cron",
            f"星期字段“{fields[4]}”不能写数字：APScheduler 把 0 当作星期一，而 crontab 把 0 当作"
            "星期日，写数字容易错一天。请写英文缩写 mon tue wed thu fri sat sun，"
            "可用范围和列表，如 mon-fri、mon,wed",
        )
        return None
    if not all(_WEEKDAY_TERM.fullmatch(t) for t in terms) or "/" in fields[4]:
        problems.add("cron", f"星期字段“{fields[4]}”应写作 *、mon、mon-fri 或 mon,wed")
        return None
    cron = " ".join(fields)
    try:
        _cron_trigger(cron, ZoneInfo(zone or DEFAULT_TIMEZONE))
    except ValueError as exc:
        problems.add("cron", f"cron 表达式“{cron}”无效：{exc}")
        return None
    return cron


def _cron_trigger(cron: str, tz: ZoneInfo) -> CronTrigger:
    return CronTrigger.from_crontab(cron, timezone=tz)


def _audience(data: Mapping[str, Any], problems: _Problems, *, default: str | None) -> str | None:
    expression = _text(data, "audience", problems, default=default)
    if expression is None:
        return None
    try:
        parse_audience(expression)
    except AudienceError as exc:
        problems.add("audience", str(exc))
        return None
    return expression


def _kind(
    data: Mapping[str, Any], problems: _Problems, *, allowed: tuple[MessageKind, ...] | None
) -> MessageKind | None:
    """The kind; a seed program's defaults to its first and must be one it sends."""
    text = _text(data, "kind", problems, default=None if not allowed else allowed[0].value)
    if text is None:
        return None
    try:
        kind = MessageKind(MessageKind.parse(text).value)
    except ValueError:
        problems.add("kind", f"未知的消息类型 {text}，可用：{MessageKind.choices()}")
        return None
    if allowed is not None and kind not in allowed:
        names = "、".join(k.value for k in allowed)
        problems.add("kind", f"程序 {data.get('program')} 只发送：{names}")
        return None
    return kind


def _channels(data: Mapping[str, Any], problems: _Problems) -> tuple[ChannelName, ...]:
    raw = data.get("channels") or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        problems.add("channels", "应为渠道列表，例如 [sms, wechat]")
        return ()
    channels: list[ChannelName] = []
    for i, item in enumerate(raw):
        try:
            channels.append(ChannelName(ChannelName.parse(str(item)).value))
        except ValueError:
            problems.add("channels", f"未知的渠道 {item}，可用：{ChannelName.choices()}", str(i))
    return tuple(channels)


def _variables(data: Mapping[str, Any], problems: _Problems) -> dict[str, Scalar]:
    raw = data.get("variables") or {}
    if not isinstance(raw, dict):
        problems.add("variables", "应为 名称: 值 的映射")
        return {}
    variables: dict[str, Scalar] = {}
    for name, value in raw.items():
        key = str(name)
        if not key.isidentifier():
            problems.add("variables", "变量名只能用字母、数字和下划线", key)
        elif key in RESERVED_VARIABLES:
            problems.add("variables", f"变量名 {key} 由系统提供，不能在计划中设置", key)
        elif not isinstance(value, str | int | float | bool):
            problems.add("variables", "变量值应为文本、数字或 true/false", key)
        else:
            variables[key] = value
    return variables


def _program_variables(
    check: Callable[[Mapping[str, Scalar]], object],
    variables: Mapping[str, Scalar],
    problems: _Problems,
) -> None:
    """The program's own rule on its variables, reported at the schedule's key and line."""
    try:
        check(variables)
    except ConfigError as exc:
        path = exc.key.split(".")[1:] if exc.key.startswith("variables.") else []
        problems.add("variables", exc.reason, *path)


def _supplied(
    needs: TemplateNeeds,
    program: str,
    kind: MessageKind,
    variables: Mapping[str, Scalar],
    problems: _Problems,
) -> None:
    """Every variable the templates of what a fire sends need comes from the program or the
    schedule: a message never goes out with one missing."""
    seed = PROGRAMS.get(program)
    supplied = set(variables) | (seed.variables if seed is not None else set())
    for sent in seed.kinds if seed is not None else (kind,):
        missing = sorted(needs.get(sent.value, frozenset()) - supplied)
        if not missing:
            continue
        names = "、".join(missing)
        where = [
            name for name, other in sorted(PROGRAMS.items())
            if sent in other.kinds and set(missing) <= other.variables
        ]  # fmt: skip
        hint = f"在计划的 variables: 中给出（如 {missing[0]}: ...）"
        if where and program not in where:
            hint += f"，或改用提供这些变量的程序 {'、'.join(where)}"
        problems.add(
            "kind",
            f"消息类型 {sent.value} 的模板需要变量 {names}，但程序 {program} 不提供，"
            f"计划也没有给出：请{hint}",
        )


def _grace(data: Mapping[str, Any], problems: _Problems) -> timedelta | None:
    raw = data.get("catch_up_grace", format_duration(DEFAULT_CATCH_UP_GRACE))
    match = _DURATION.fullmatch(str(raw))
    if match is None or int(match.group(1)) == 0:
        problems.add("catch_up_grace", f"应写作正整数加单位 s/m/h/d，例如 6h、30m，收到“{raw}”")
        return None
    grace = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if grace > timedelta(days=7):
        problems.add("catch_up_grace", "补发宽限不能超过 7d")
        return None
    return grace
