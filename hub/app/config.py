"""config.yaml -> frozen, typed, validated settings: the app composes every package's section.

Loaded once at start-up. Every problem is reported with the file, the dotted key path and the
line, and stops the process (the CLI exits 2). Secrets never live in the file: secret fields must
be written as ``${ENV_VAR}`` (optionally ``${ENV_VAR:-default}``) and are read from the
environment. A provider that is enabled with a missing secret is an error; a disabled provider is
ignored, so the shipped config runs on a fresh machine with no credentials.

Each section's class lives with the package that reads it (``hub.core.settings``: hub, logging,
calendar; ``hub.store.settings``; ``hub.infra.settings``; ``hub.outbound.settings``: dispatch,
quiet_hours, routing; ``hub.tickets.settings``; ``hub.tickets.deadlines.settings``;
``hub.visits.settings``: tiers and visits; ``hub.reports.settings``: reports;
``hub.knowledge.settings``: answers;
``channels/*/settings.py`` for each channel). ``web:`` and the ``channels:`` composition are the
app's own, here: only the app and the CLI read them.
Feature modules take their section, or a small Protocol of the parts they read
(``hub.tickets.settings.TicketsConfig``, ...), which :class:`Settings` satisfies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from channels.settings import SandboxSettings
from channels.sms.settings import SmsSettings
from channels.telegram.settings import TelegramSettings
from channels.wechat.settings import WechatSettings
from hub.core.errors import ConfigError
from hub.core.settings import (
    CalendarSettings,
    FrozenSettings,
    HubSettings,
    LoggingSettings,
    WebUrl,
)
from hub.core.vocab import Urgency
from hub.core.yaml_aliases import alias_problem
from hub.infra.settings import RedisSettings
from hub.knowledge.settings import AnswerSettings
from hub.outbound.settings import ChannelKey, DispatchSettings, QuietHours, RoutingSettings
from hub.reports.settings import ReportsSettings
from hub.store.settings import StorageSettings
from hub.tickets.deadlines.settings import WorkingDays, default_deadlines
from hub.tickets.settings import TicketsSettings
from hub.visits.settings import TierSettings, VisitsSettings, default_tiers
from hub.web.admin.settings import AdminSettings

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


class WebSettings(FrozenSettings):
    """``web:``: where ``hub api`` listens, and the address links and webhooks are built on."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: WebUrl = "http://127.0.0.1:8000"
    #: The web admin's sign-in: lockout, session length, shortest password.
    admin: AdminSettings = AdminSettings()


class ChannelsSettings(FrozenSettings):
    """``channels:``: the default channel, and each channel's own section."""

    default: ChannelKey = "sandbox"
    sandbox: SandboxSettings = SandboxSettings()
    sms: SmsSettings = SmsSettings()
    wechat: WechatSettings = WechatSettings()
    telegram: TelegramSettings = TelegramSettings()


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
    deadlines: dict[Urgency, WorkingDays] = Field(default_factory=default_deadlines)
    tiers: dict[str, TierSettings] = Field(default_factory=default_tiers)
    visits: VisitsSettings = VisitsSettings()
    quiet_hours: QuietHours = QuietHours()
    routing: RoutingSettings = RoutingSettings()
    tickets: TicketsSettings = TicketsSettings()
    reports: ReportsSettings = ReportsSettings()
    answers: AnswerSettings = AnswerSettings()

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
