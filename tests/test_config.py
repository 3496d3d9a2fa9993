"""config.yaml loading: typed settings, ${ENV} secrets, errors naming file, key and line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.cli import main
from hub.core.errors import ConfigError

PROJECT_CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_without_any_credentials() -> None:
    settings = load_settings(PROJECT_CONFIG, env={})
    assert settings.channels.default == "sandbox"
    assert settings.channels.sandbox.enabled
    assert not settings.channels.sms.tencent.enabled
    assert settings.redis.url == "embedded"
    assert settings.database_url.endswith("/var/hub.db")
    assert settings.deadlines["general"] == 5


def test_settings_are_frozen() -> None:
    settings = load_settings(PROJECT_CONFIG, env={})
    with pytest.raises(ValueError, match="frozen"):
        settings.web.port = 1  # type: ignore[misc]


def test_env_substitution_with_default_and_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "storage:\n  url: ${DB_URL:-sqlite+aiosqlite:///x.db}\nredis:\n  url: ${REDIS_URL}\n",
    )
    settings = load_settings(path, env={"REDIS_URL": "redis://10.0.0.1:6379/2"})
    assert settings.redis.url == "redis://10.0.0.1:6379/2"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'x.db'}"


@pytest.mark.parametrize(
    ("text", "key", "line", "reason"),
    [
        ("web:\n  port: 8000\n  hots: x\n", "web.hots", 3, "未知的配置项"),
        ("web:\n  port: eighty\n", "web.port", 2, "integer"),
        ("dispatch:\n  max_attempts: 0\n", "dispatch.max_attempts", 2, "greater than or equal"),
        ("storage:\n  url: mysql://x\n", "storage.url", 2, "sqlite+aiosqlite"),
        ("hub:\n  timezone: Mars/Base\n", "hub.timezone", 2, "unknown time zone"),
        ("channels:\n  sms:\n    provider: nokia\n", "channels.sms.provider", 3, "tencent"),
    ],
)
def test_bad_value_names_key_and_line(
    tmp_path: Path, text: str, key: str, line: int, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.key == key
    assert info.value.line == line
    assert info.value.file == str(path)
    assert reason in info.value.reason


ENABLED_TENCENT = """\
channels:
  sms:
    tencent:
      enabled: {enabled}
      secret_id: ${{TC_ID}}
      secret_key: ${{TC_KEY}}
      sdk_app_id: "1400000000"
      sign_name: 主动服务
      path_secret: ${{TC_PATH}}
"""


def test_enabled_provider_with_missing_secret_names_key_and_env(tmp_path: Path) -> None:
    path = write(tmp_path, ENABLED_TENCENT.format(enabled="true"))
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"TC_ID": "AKID", "TC_PATH": "p"})
    assert info.value.key == "channels.sms.tencent.secret_key"
    assert info.value.line == 6
    assert "TC_KEY" in info.value.reason


def test_disabled_provider_with_missing_secret_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, ENABLED_TENCENT.format(enabled="false"))
    settings = load_settings(path, env={})
    assert settings.channels.sms.tencent.secret_key is None


def test_enabled_provider_with_all_secrets_loads(tmp_path: Path) -> None:
    path = write(tmp_path, ENABLED_TENCENT.format(enabled="true"))
    settings = load_settings(path, env={"TC_ID": "AKID", "TC_KEY": "k", "TC_PATH": "p"})
    assert settings.channels.sms.tencent.secret_key == "k"


def test_literal_secret_in_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  telegram:\n    token: 123456:ABCDEF\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.key == "channels.telegram.token"
    assert info.value.line == 3
    assert "环境变量" in info.value.reason


def test_wechat_default_app_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  wechat:\n    default_app: nope\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.key == "channels.wechat.default_app"


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "web:\n  port: 8000\n   host: [\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.line is not None


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="不存在"):
        load_settings(tmp_path / "nope.yaml", env={})


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, "web:\n  port: x\n  bogus: 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    keys = {info.value.key, *(other.key for other in info.value.others)}
    assert keys == {"web.port", "web.bogus"}


def test_config_check_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "web:\n  port: 8000\n  hots: x\n")
    assert main(["--config", str(path), "config", "check"]) == 2
    stderr = capsys.readouterr().err
    assert "web.hots" in stderr
    assert f"{path}:3" in stderr


def test_config_check_exits_0_on_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(PROJECT_CONFIG), "config", "check", "--json"]) == 0
    assert '"default_channel": "sandbox"' in capsys.readouterr().out


def test_unknown_command_is_a_usage_error() -> None:
    assert main(["frobnicate"]) == 2


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (
            "channels:\n  wechat:\n    apps:\n      staff:\n        kind: wecom\n"
            "        agent_id: abc\n",
            "channels.wechat.apps.staff.agent_id",
            "AgentID 应为数字",
        ),
        (
            "channels:\n  wechat:\n    apps:\n      城市号:\n        kind: official_account\n",
            "channels.wechat.apps",
            "只能包含字母",
        ),
        (
            "channels:\n  wechat:\n    default_app: staff\n    apps:\n      staff:\n"
            "        kind: wecom\n",
            "channels.wechat",
            "应为公众号",
        ),
        (
            "calendar:\n  years:\n    2027:\n      holidays: [2028-01-01]\n",
            "calendar.years",
            "不属于 2027 年",
        ),
        (
            "calendar:\n  years:\n    2027:\n      holidays: [2027-13-01]\n",
            "calendar.years.2027.holidays.0",
            "date",
        ),
    ],
)
def test_channel_and_calendar_mistakes_name_the_key(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env={})
    assert info.value.key == key
    assert reason in info.value.reason


def test_an_entered_year_loads_as_dates(tmp_path: Path) -> None:
    text = "calendar:\n  years:\n    2027:\n      holidays: [2027-01-01]\n      workdays: []\n"
    settings = load_settings(write(tmp_path, text), env={})
    assert str(settings.calendar.years[2027].holidays[0]) == "2027-01-01"


@pytest.mark.parametrize(
    ("text", "key", "line", "reason"),
    [
        ("deadlines:\n  immediate: 0\n  urgent: -3\n", "deadlines.urgent", 3, "工作日"),
        ("deadlines:\n  hard: 100000000\n", "deadlines.hard", 2, "工作日"),
        (
            "channels:\n  sms:\n    tencent:\n      endpoint: file:///etc/passwd\n",
            "channels.sms.tencent.endpoint",
            4,
            "http",
        ),
        (
            "channels:\n  sms:\n    aliyun:\n      endpoint: gopher://x.example:70/\n",
            "channels.sms.aliyun.endpoint",
            4,
            "http",
        ),
        (
            "channels:\n  telegram:\n    api_base: not a url\n",
            "channels.telegram.api_base",
            3,
            "http",
        ),
        (
            "channels:\n  telegram:\n    api_base: http://169.254.169.254/latest\n",
            "channels.telegram.api_base",
            3,
            "链路本地",
        ),
        (
            "channels:\n  telegram:\n    api_base: http://2852039166/\n",
            "channels.telegram.api_base",
            3,
            "链路本地",
        ),
        (
            "channels:\n  wechat:\n    apps:\n      staff:\n        kind: wecom\n"
            "        api_base: http://[fe80::1]:8080\n",
            "channels.wechat.apps.staff.api_base",
            6,
            "链路本地",
        ),
        ("web:\n  public_base_url: 'javascript:alert(1)'\n", "web.public_base_url", 2, "http"),
        ("web:\n  public_base_url: https://\n", "web.public_base_url", 2, "主机"),
    ],
)
def test_values_that_used_to_pass_name_key_and_line(
    tmp_path: Path, text: str, key: str, line: int, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env={})
    assert info.value.key == key
    assert info.value.line == line
    assert reason in info.value.reason


def test_loopback_endpoints_stay_allowed(tmp_path: Path) -> None:
    # Tests and drills aim the channels at the loopback fakes.
    text = (
        "channels:\n  sms:\n    tencent:\n      endpoint: http://127.0.0.1:9001\n"
        "  telegram:\n    api_base: http://[::1]:9002/\n"
        "web:\n  public_base_url: https://hub.example.gov.cn/\n"
    )
    settings = load_settings(write(tmp_path, text), env={})
    assert settings.channels.sms.tencent.endpoint == "http://127.0.0.1:9001"


YAML_ALIAS_BOMB = """\
web:
  port: 8000
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_yaml_alias_bomb_fails_fast_naming_the_line(tmp_path: Path) -> None:
    # CPU seconds of this thread (the wall clock measures a loaded machine): expanded, the
    # aliases would take minutes and gigabytes.
    started = time.thread_time()
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, YAML_ALIAS_BOMB), env={})
    assert time.thread_time() - started < 1.0
    assert "别名" in info.value.reason
    assert info.value.line is not None
    assert info.value.line >= 4


def test_recursive_yaml_alias_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="别名") as info:
        load_settings(write(tmp_path, "web: &w\n  port: 8000\n  self: *w\n"), env={})
    assert info.value.line is not None


def test_a_few_yaml_aliases_still_work(tmp_path: Path) -> None:
    text = "tiers:\n  key: &t {visit_every_months: 3}\n  general: *t\n"
    settings = load_settings(write(tmp_path, text), env={})
    assert settings.tiers["general"].visit_every_months == 3


def test_config_check_exits_2_on_an_alias_bomb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, YAML_ALIAS_BOMB)
    assert main(["--config", str(path), "config", "check"]) == 2
    assert "别名" in capsys.readouterr().err


def test_a_validator_reason_is_shown_without_pydantics_prefix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "deadlines:\n  urgent: -3\n"), env={})
    assert info.value.reason.startswith("办理时限应为 0 到 365 个工作日")
