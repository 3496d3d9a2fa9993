"""The schedule editor's form: presets turned into cron, the form read into the mapping that
:func:`hub.scheduling.schedules.parse_spec` validates (the one validation files, the CLI and the
scheduler use), its errors labelled by field in Chinese, and the next fire times as the
scheduler computes them (:func:`hub.scheduling.schedules.next_fire_times`), working days only for
a ``workdays_only`` schedule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

import yaml

from hub.core.errors import ConfigError, UsageError
from hub.core.vocab import ChannelName
from hub.scheduling.programs.base import ProgramSettings, day_off_hold
from hub.scheduling.schedules import (
    DEFAULT_TIMEZONE,
    ScheduleSpec,
    format_duration,
    next_fire_times,
    workdays_only_default,
)

#: Preset key -> its label; ``custom`` means the cron field as typed.
PRESETS: Final = {
    "daily": "每天",
    "workdays": "每个工作日",
    "weekly": "每周",
    "monthly": "每月",
    "custom": "自定义 cron",
}
WEEKDAYS: Final = {"mon": "周一", "tue": "周二", "wed": "周三", "thu": "周四", "fri": "周五",
                   "sat": "周六", "sun": "周日"}  # fmt: skip
#: A spec key (as parse_spec names it) -> the field's label on the form.
FIELD_LABELS: Final = {
    "name": "名称", "description": "说明", "cron": "触发时间（cron）", "preset": "触发时间",
    "timezone": "时区", "program": "程序", "audience": "受众", "kind": "消息类型",
    "channels": "渠道", "variables": "模板变量", "catch_up_grace": "补发宽限",
    "workdays_only": "仅工作日", "enabled": "启用",
}  # fmt: skip
_TIME: Final = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
# A cron a preset could have written: minute hour day * weekday, each one plain value.
_PRESET_CRON: Final = re.compile(r"(\d{1,2}) (\d{1,2}) (\d{1,2}|\*) \* ([a-z]{3}(?:-[a-z]{3})?|\*)")
# How many fires to look through for five on working days (the Spring Festival is ~9 days off).
_LOOK_AHEAD: Final = 60


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem of the form: the field's key and label, and what is wrong."""

    key: str
    label: str
    reason: str

    @property
    def text(self) -> str:
        return f"{self.label}：{self.reason}"


class FormInvalid(UsageError):
    """The form cannot be saved; ``errors`` name each field in Chinese."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("；".join(e.text for e in errors))
        self.errors = errors


def field_errors(error: ConfigError) -> list[FieldError]:
    """parse_spec's problems (the first and its ``others``), labelled by field."""
    errors = []
    for problem in (error, *error.others):
        key = problem.key.split(".")[0]
        errors.append(FieldError(key, FIELD_LABELS.get(key, key), problem.reason))
    return errors


def preset_cron(form: Mapping[str, str]) -> tuple[str, bool | None]:
    """The form's cron, and ``workdays_only`` when the preset decides it (None: the form does).

    每天 ``M H * * *``; 每个工作日 ``M H * * mon-fri`` and working days only (a holiday on a weekday
    sends nothing); 每周 ``M H * * <day>``; 每月 ``M H <day> * *``; custom: the cron as typed.
    """
    preset = form.get("preset", "custom")
    if preset not in PRESETS:
        raise FormInvalid([FieldError("preset", FIELD_LABELS["preset"], "未知的预设")])
    if preset == "custom":
        return form.get("cron", "").strip(), None
    match = _TIME.fullmatch(form.get("at", "").strip())
    if match is None:
        reason = f"时刻“{form.get('at', '')}”应写作 时:分，例如 09:00"
        raise FormInvalid([FieldError("preset", FIELD_LABELS["preset"], reason)])
    minute, hour = int(match.group(2)), int(match.group(1))
    if preset == "daily":
        return f"{minute} {hour} * * *", None
    if preset == "workdays":
        return f"{minute} {hour} * * mon-fri", True
    if preset == "weekly":
        weekday = form.get("weekday", "mon")
        if weekday not in WEEKDAYS:
            raise FormInvalid([FieldError("preset", FIELD_LABELS["preset"], "请选择星期几")])
        return f"{minute} {hour} * * {weekday}", None
    day = form.get("monthday", "").strip()
    if not day.isdigit() or not 1 <= int(day) <= 28:
        # 29-31 would skip the months without them: refused rather than silently skipped.
        reason = f"每月的日期“{day}”应为 1 到 28 之间的数字"
        raise FormInvalid([FieldError("preset", FIELD_LABELS["preset"], reason)])
    return f"{minute} {hour} {int(day)} * *", None


def _variables(text: str) -> Any:
    """The variables textarea (``名称: 值`` per line, YAML, so values keep their type)."""
    if not text.strip():
        return {}
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        reason = '应每行写一个 名称: 值，例如 licence_days: "60,30,7"'
        raise FormInvalid([FieldError("variables", FIELD_LABELS["variables"], reason)]) from None


def spec_mapping(form: Mapping[str, str], *, name: str) -> tuple[dict[str, Any], bool]:
    """The form as a schedule file's mapping (for parse_spec), and whether it is enabled."""
    cron, workdays_only = preset_cron(form)
    program = form.get("program", "").strip()
    data: dict[str, Any] = {
        "name": name,
        "description": form.get("description", "").strip(),
        "cron": cron,
        "timezone": form.get("timezone", "").strip() or DEFAULT_TIMEZONE,
        "program": program,
        "audience": form.get("audience", "").strip() or "all",
        "channels": [c.value for c in ChannelName if form.get(f"channel_{c.value}")],
        "variables": _variables(form.get("variables", "")),
        "catch_up_grace": form.get("catch_up_grace", "").strip() or "6h",
        "workdays_only": workdays_only if workdays_only is not None
        else bool(form.get("workdays_only")),
    }  # fmt: skip
    if form.get("kind", "").strip():
        data["kind"] = form["kind"].strip()
    return data, bool(form.get("enabled"))


def form_values(spec: ScheduleSpec | None) -> dict[str, Any]:
    """What the editor's fields show: a stored spec's values, or a new schedule's defaults."""
    if spec is None:
        return {
            "name": "", "description": "", "preset": "workdays", "at": "09:00",
            "weekday": "mon", "monthday": "1", "cron": "", "timezone": DEFAULT_TIMEZONE,
            "program": "campaign", "kind": "notice", "audience": "all", "channels": [],
            "variables": "", "catch_up_grace": "6h",
            "workdays_only": workdays_only_default("campaign"), "enabled": True,
        }  # fmt: skip
    variables = dict(spec.variables)
    return {
        "name": spec.name, "description": spec.description, **_preset_of(spec),
        "cron": spec.cron, "timezone": spec.timezone,
        "program": spec.program, "kind": spec.kind.value, "audience": spec.audience,
        "channels": [c.value for c in spec.channels],
        "variables": yaml.safe_dump(variables, allow_unicode=True).strip() if variables else "",
        "catch_up_grace": format_duration(spec.catch_up_grace),
        "workdays_only": spec.workdays_only, "enabled": spec.enabled,
    }  # fmt: skip


def _preset_of(spec: ScheduleSpec) -> dict[str, str]:
    """The preset fields a stored cron reads as (the editor shows 每周三 08:30, not its cron);
    ``custom`` when no preset writes it."""
    values = {"preset": "custom", "at": "09:00", "weekday": "mon", "monthday": "1"}
    match = _PRESET_CRON.fullmatch(spec.cron)
    if match is None:
        return values
    minute, hour, day, weekday = match.groups()
    values["at"] = f"{int(hour):02d}:{int(minute):02d}"
    if day == "*" and weekday == "*":
        values["preset"] = "daily"
    elif day == "*" and weekday == "mon-fri" and spec.workdays_only:
        values["preset"] = "workdays"
    elif day == "*" and weekday in WEEKDAYS:
        values |= {"preset": "weekly", "weekday": weekday}
    elif weekday == "*" and day.isdigit() and 1 <= int(day) <= 28:
        values |= {"preset": "monthly", "monthday": day}
    else:
        values["preset"] = "custom"
    return values


def posted_values(form: Mapping[str, str]) -> dict[str, Any]:
    """The fields as posted (to show a refused form again, as the clerk typed it)."""
    values = form_values(None) | {k: v for k, v in form.items() if k != "csrf_token"}
    values["channels"] = [c.value for c in ChannelName if form.get(f"channel_{c.value}")]
    values["workdays_only"] = bool(form.get("workdays_only"))
    values["enabled"] = bool(form.get("enabled"))
    return values


@dataclass(frozen=True, slots=True)
class UpcomingFires:
    """The next fire times that send, and the days off skipped among them (working-day only)."""

    times: list[datetime]
    days_off: list[date] = field(default_factory=list)


def upcoming_fires(
    spec: ScheduleSpec, after: datetime, programs: ProgramSettings, count: int = 5
) -> UpcomingFires:
    """The next ``count`` fires strictly after ``after`` (the scheduler's trigger). For a
    ``workdays_only`` schedule a fire on a day off sends nothing that day (its messages wait for
    the next working day's morning, :func:`~hub.scheduling.programs.base.day_off_hold`, as the
    scheduler decides): it is skipped here and its day listed in ``days_off``."""
    if not spec.workdays_only:
        return UpcomingFires(next_fire_times(spec, after, count))
    times: list[datetime] = []
    days_off: list[date] = []
    for fire in next_fire_times(spec, after, _LOOK_AHEAD):
        if day_off_hold(programs, fire) is not None:
            day = fire.astimezone(programs.tz).date()
            if day not in days_off:
                days_off.append(day)
            continue
        times.append(fire)
        if len(times) == count:
            break
    return UpcomingFires(times, days_off)
